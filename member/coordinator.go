package member

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/partition"
)

// Routes of the member's own protocol.
const (
	routeTable    = "member.table"     // publish a table to a member
	routeTableGet = "member.table.get" // read a member's table
	routeMigrate  = "member.migrate"   // ask a partition's owner to copy it to new replicas
	routeImport   = "member.import"    // deliver a partition copy to a new replica
	routeBump     = "member.bump"      // ask the coordinator to publish a table of at least a version
)

func (m *Member) registerRoutes() {
	m.handle(routeTable, m.handleTable)
	m.handle(routeTableGet, m.handleTableGet)
	m.handle(routeMigrate, m.handleMigrate)
	m.handle(routeImport, m.handleImport)
	m.handle(routeBump, m.handleBump)
}

// migrationBatch is how many partitions move between two published tables:
// each batch freezes writes to its partitions only while they are copied.
const migrationBatch = 32

// migrationConcurrency bounds the copies in flight at once.
const migrationConcurrency = 8

// coordinator runs on every member but acts only on the oldest: it computes
// partition tables from the live members and publishes them. On member loss
// it first publishes a table promoting surviving backups (no data moves),
// then rebalances in batches, each batch copying data to new replicas while
// the partition's owner holds its writes, then publishing the table that
// makes the copies live.
type coordinator struct {
	m    *Member
	poke chan struct{}
	bump atomic.Uint64 // a frozen member asked for a table of at least this version

	// Used only by the coordinator goroutine.
	active       bool
	known        map[string]bool
	acked        map[string]uint64
	quorumWarned bool
	// gone records when each member of the table was first missing from
	// the view, and settled fires when the last of them has been gone long
	// enough to act on (see holdDepartures).
	gone    map[string]time.Time
	settled <-chan time.Time
}

func (c *coordinator) init(m *Member) {
	c.m = m
	c.poke = make(chan struct{}, 1)
	c.known = map[string]bool{}
	c.acked = map[string]uint64{}
	c.gone = map[string]time.Time{}
}

func (m *Member) pokeCoordinator() {
	select {
	case m.coord.poke <- struct{}{}:
	default:
	}
}

func (c *coordinator) run(ctx context.Context) {
	tick := min(time.Second, 5*c.m.cfg.Gossip.ProbeInterval)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.poke:
		case <-t.C:
		case <-c.settled:
			c.settled = nil
		}
		if !c.m.IsCoordinator() {
			c.active = false
			c.m.refreshStaleTable(ctx)
			continue
		}
		c.step(ctx)
	}
}

func (c *coordinator) step(ctx context.Context) {
	m := c.m
	lost := m.tables.lost.Load()
	stale := m.TableStale()
	v := m.view.Load()
	var fresh []string
	for _, i := range v.members {
		if i.ID != m.id && (!c.active || !c.known[i.ID]) {
			fresh = append(fresh, i.ID)
		}
	}
	wasActive := c.active
	if !wasActive {
		m.log.Info("this member is now the coordinator")
	}
	c.active = true
	c.known = make(map[string]bool, len(v.members))
	for _, i := range v.members {
		c.known[i.ID] = true
	}
	for id := range c.acked {
		if !c.known[id] {
			delete(c.acked, id)
		}
	}
	// A new coordinator adopts the newest table any member holds before
	// deciding, and so does one whose table went stale when it lost the
	// quorum: only a side with a quorum publishes tables, so the newest is
	// that side's. An established one that kept its quorum and meets
	// members it did not know (a healed network partition where both sides
	// had one) keeps its own table, republished above whatever version the
	// newcomers hold: the other side's members then merge what they wrote
	// while apart into this side's owners.
	if !wasActive || stale {
		c.gather(ctx, fresh, true)
	} else if newest := c.gather(ctx, fresh, false); newest >= m.tableVersion() && newest > 0 {
		if cur := m.Partitions(); cur != nil {
			m.log.Info("coordinator: members rejoined with a newer table; republishing ours above it", "theirs", newest, "ours", cur.Version())
			c.publish(ctx, cur.WithVersion(c.nextVersion()))
		}
	}

	if !m.HasQuorum() {
		if !c.quorumWarned {
			m.log.Warn("no quorum: not publishing partition tables", "data_members", len(v.dataMembers(true)), "min_cluster_size", m.cfg.MinClusterSize)
			c.quorumWarned = true
		}
		c.syncStragglers(ctx)
		return
	}
	c.quorumWarned = false
	if m.tables.trust(lost) {
		// Members that asked for the table while this one's was stale were
		// told it is not current: tell them it is now.
		if cur := m.Partitions(); cur != nil {
			c.send(ctx, cur, otherMembers(m))
		}
	}

	alive, active := v.dataMembers(true), v.dataMembers(false)
	cur := m.Partitions()
	if wait := c.holdDepartures(cur, alive); wait > 0 {
		c.settled = time.After(wait)
		c.syncStragglers(ctx)
		return
	}
	switch {
	case cur == nil && len(active) > 0:
		c.publish(ctx, partition.Initial(m.cfg.PartitionCount, active, m.cfg.BackupCount).WithVersion(c.nextVersion()))
	case cur != nil:
		if p := partition.Promote(cur, alive); p != cur {
			c.publish(ctx, p.WithVersion(c.nextVersion()))
		} else if b := c.bump.Swap(0); b > cur.Version() {
			c.publish(ctx, cur.WithVersion(max(b, c.nextVersion())))
		}
		if len(active) > 0 {
			c.rebalance(ctx, v, active)
		}
	}
	c.syncStragglers(ctx)
}

// holdDepartures says how long to wait before acting on the departure of
// the members of cur missing from alive: each must have been missing for a
// probe interval first. Gossip reports a member gone that is not, for a
// moment, when a network partition heals: the member that was cut off
// spreads its old news that the others died, and each refutes it within a
// gossip round or two. A coordinator that promoted the backups of such a
// member at once made them owners while the member, which had not left in
// its own view, still served its partitions as owner: two owners, whose
// writes and journal numbers diverged. A member that has crashed pays one
// probe interval more before its backups take over.
func (c *coordinator) holdDepartures(cur *partition.Table, alive []string) time.Duration {
	if cur == nil {
		clear(c.gone)
		return 0
	}
	now := time.Now()
	settle := c.m.cfg.Gossip.ProbeInterval
	members := cur.Members()
	for id := range c.gone {
		if !slices.Contains(members, id) || slices.Contains(alive, id) {
			delete(c.gone, id)
		}
	}
	var wait time.Duration
	for _, id := range members {
		if slices.Contains(alive, id) {
			continue
		}
		since, ok := c.gone[id]
		if !ok {
			since = now
			c.gone[id] = now
		}
		wait = max(wait, since.Add(settle).Sub(now))
	}
	return wait
}

// nextVersion numbers a new table above every version seen in the cluster.
func (c *coordinator) nextVersion() uint64 {
	ts := &c.m.tables
	v := max(ts.seen.Load(), c.m.tableVersion()) + 1
	ts.observe(v)
	return v
}

// gather fetches the tables of the given members, adopts the newest if
// adopt is set, and returns the newest version seen.
func (c *coordinator) gather(ctx context.Context, ids []string, adopt bool) uint64 {
	if len(ids) == 0 {
		return 0
	}
	m := c.m
	var mu sync.Mutex
	var newest *partition.Table
	parallel(ids, migrationConcurrency, func(id string) {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
		defer cancel()
		b, err := m.call(ctx, id, routeTableGet, nil)
		if err != nil {
			m.log.Debug("coordinator: could not read member's table", "member", id, "err", err)
			return
		}
		t, _, err := m.decodeTable(b)
		if err != nil || t == nil {
			return
		}
		m.tables.observe(t.Version())
		mu.Lock()
		defer mu.Unlock()
		c.acked[id] = t.Version()
		if newest == nil || t.Version() > newest.Version() {
			newest = t
		}
	})
	if newest == nil {
		return 0
	}
	if adopt && m.tables.apply(newest) {
		m.log.Info("coordinator adopted a newer partition table", "table", newest.String())
	}
	return newest.Version()
}

// rebalance moves partitions towards the balanced target for the active
// members, batch by batch, until there is nothing left to move or the
// membership changes (the next step starts over from the new view).
func (c *coordinator) rebalance(ctx context.Context, v *view, active []string) {
	m := c.m
	cur := m.Partitions()
	target := partition.Rebalance(cur, active, m.cfg.BackupCount)
	changes := partition.Plan(cur, target)
	if len(changes) == 0 {
		return
	}
	m.log.Info("coordinator: rebalancing", "partitions_to_change", len(changes), "members", len(active))
	for len(changes) > 0 {
		if ctx.Err() != nil || m.view.Load() != v {
			m.pokeCoordinator()
			return
		}
		batch := changes[:min(migrationBatch, len(changes))]
		changes = changes[len(batch):]
		version := c.nextVersion()
		var mu sync.Mutex
		var done []int
		failed := false
		parallel(batch, migrationConcurrency, func(ch partition.Change) {
			err := c.migrate(ctx, ch, version)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = true
				m.log.Warn("coordinator: partition migration failed; will retry", "partition", ch.Partition, "from", ch.Source, "to", ch.Added, "err", err)
				return
			}
			done = append(done, ch.Partition)
		})
		// Published even when every copy failed: a table at this version is
		// what releases the partitions the owners froze.
		c.publish(ctx, m.Partitions().WithRows(version, target, done))
		if failed {
			return
		}
	}
	m.log.Info("coordinator: rebalance complete", "table", m.Partitions().String())
}

// migrate asks a partition's owner to copy it to the replicas the change
// adds, holding writes to it until the table at version commits the change.
func (c *coordinator) migrate(ctx context.Context, ch partition.Change, version uint64) error {
	if ch.Source == "" || (len(ch.Added) == 0 && !ch.OwnerChanged) {
		return nil
	}
	m := c.m
	b, err := wire.Marshal(&migrateMsg{Partition: ch.Partition, Added: ch.Added, Commit: version, Addrs: m.transport.addrsOf(ch.Added)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.MigrationTimeout)
	defer cancel()
	_, err = m.call(ctx, ch.Source, routeMigrate, b)
	return err
}

// publish applies t here and sends it to every other member.
func (c *coordinator) publish(ctx context.Context, t *partition.Table) {
	m := c.m
	if !m.tables.apply(t) {
		return
	}
	c.send(ctx, t, otherMembers(m))
}

// otherMembers lists the IDs of the live members other than m.
func otherMembers(m *Member) []string {
	var ids []string
	for _, i := range m.view.Load().members {
		if i.ID != m.id {
			ids = append(ids, i.ID)
		}
	}
	return ids
}

// syncStragglers sends the current table to members that have not
// acknowledged it: members that joined, or missed a publish.
func (c *coordinator) syncStragglers(ctx context.Context) {
	m := c.m
	t := m.Partitions()
	if t == nil {
		return
	}
	var ids []string
	for _, i := range m.view.Load().members {
		if i.ID != m.id && c.acked[i.ID] < t.Version() {
			ids = append(ids, i.ID)
		}
	}
	c.send(ctx, t, ids)
}

func (c *coordinator) send(ctx context.Context, t *partition.Table, ids []string) {
	if len(ids) == 0 {
		return
	}
	m := c.m
	payload, err := m.encodeTable(t)
	if err != nil {
		m.log.Error("coordinator: cannot encode table", "err", err)
		return
	}
	var mu sync.Mutex
	parallel(ids, 16, func(id string) {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
		defer cancel()
		b, err := m.call(ctx, id, routeTable, payload)
		if err != nil {
			m.log.Debug("coordinator: publishing table failed", "member", id, "version", t.Version(), "err", err)
			return
		}
		var ack versionMsg
		if wire.Unmarshal(b, &ack) == nil {
			m.tables.observe(ack.Version)
			mu.Lock()
			c.acked[id] = ack.Version
			mu.Unlock()
		}
	})
}

// handleBump is sent by a member whose frozen partition waited too long for
// its commit: the coordinator publishes a table of at least that version,
// which releases it.
func (m *Member) handleBump(_ context.Context, req *Request) ([]byte, error) {
	var msg versionMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	for {
		cur := m.coord.bump.Load()
		if msg.Version <= cur || m.coord.bump.CompareAndSwap(cur, msg.Version) {
			break
		}
	}
	m.tables.observe(msg.Version)
	m.pokeCoordinator()
	return nil, nil
}

// parallel runs fn for every item with at most n at once, and waits.
func parallel[T any](items []T, n int, fn func(T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(it)
		}()
	}
	wg.Wait()
}
