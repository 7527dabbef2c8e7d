package member

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

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
//
// What to do and when is decided by its deterministic core (coordCore);
// this is the loop around it that observes, waits on Config.Clock and
// talks to the other members.
type coordinator struct {
	m    *Member
	poke chan struct{}
	bump atomic.Uint64 // a frozen member asked for a table of at least this version
	// restart: the member stood still; start over as a new coordinator.
	restart atomic.Bool
	// unsure counts the steps left in which a coordinator back from a
	// stall waits for every member's table before deciding anything.
	unsure int

	// Used only by the coordinator goroutine.
	core  coordCore
	acked map[string]uint64
	// settled fires when the departures the core holds have been missing
	// long enough to act on.
	settled <-chan time.Time
}

func (c *coordinator) init(m *Member) {
	c.m = m
	c.poke = make(chan struct{}, 1)
	c.core = newCoordCore(m.cfg)
	c.acked = map[string]uint64{}
}

func (m *Member) pokeCoordinator() {
	select {
	case m.coord.poke <- struct{}{}:
	default:
	}
}

func (c *coordinator) run(ctx context.Context) {
	t := c.m.cfg.Clock.NewTicker(coordTick(c.m.cfg.Gossip.ProbeInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.poke:
		case <-t.Chan():
		case <-c.settled:
			c.settled = nil
		}
		if c.restart.Swap(false) {
			// The member stood still (see Member.watchStalls): whatever it
			// knew may be old, so it starts over as a new coordinator
			// would, adopting the newest table of the members.
			c.core.resign()
			c.unsure = stallRetries
		}
		if !c.m.IsCoordinator() {
			c.core.resign()
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
	ids := make([]string, len(v.members))
	for i, info := range v.members {
		ids[i] = info.ID
	}
	plan := c.core.meet(m.id, ids, stale)
	if plan.first {
		m.log.Info("this member is now the coordinator")
	}
	for id := range c.acked {
		if !c.core.known[id] {
			delete(c.acked, id)
		}
	}
	newest, missed := c.gather(ctx, plan.ask, plan.adopt)
	if c.unsure > 0 {
		c.unsure--
		if missed > 0 {
			// Back from a stall, the others may still be closing the
			// connections of the member they dropped: their tables
			// are what this one must learn. Ask them all again.
			m.log.Debug("coordinator: back from a stall, some members' tables are unread; retrying", "unread", missed)
			c.core.resign()
			return
		}
		c.unsure = 0
	}
	if !plan.adopt && republishAbove(newest, m.tableVersion()) {
		if cur := m.Partitions(); cur != nil {
			m.log.Info("coordinator: members rejoined with a newer table; republishing ours above it", "theirs", newest, "ours", cur.Version())
			c.publish(ctx, cur.WithVersion(c.nextVersion()))
		}
	}

	alive, active := v.dataMembers(true), v.dataMembers(false)
	in := coordInput{now: m.cfg.Clock.Now(), table: m.Partitions(), alive: alive, active: active, quorum: m.HasQuorum(), bump: c.bump.Load()}
	d := c.core.decide(in)
	if d.noQuorum {
		if d.warnNoQuorum {
			m.log.Warn("no quorum: not publishing partition tables", "data_members", len(alive), "min_cluster_size", m.cfg.MinClusterSize)
		}
		c.syncStragglers(ctx)
		return
	}
	if m.tables.trust(lost) {
		// Members that asked for the table while this one's was stale were
		// told it is not current: tell them it is now.
		if cur := m.Partitions(); cur != nil {
			c.send(ctx, cur, otherMembers(m))
		}
	}

	if d.hold > 0 {
		c.settled = m.cfg.Clock.After(d.hold)
		c.syncStragglers(ctx)
		return
	}
	if d.tookBump {
		// A newer bump that arrived meanwhile stays, and its handler
		// poked the next step.
		c.bump.CompareAndSwap(in.bump, 0)
	}
	if d.publish != nil {
		c.publish(ctx, d.publish.WithVersion(max(d.atLeast, c.nextVersion())))
	}
	if d.rebalance {
		c.rebalance(ctx, v, active)
	}
	c.syncStragglers(ctx)
}

// nextVersion numbers a new table above every version seen in the cluster.
func (c *coordinator) nextVersion() uint64 {
	ts := &c.m.tables
	v := max(ts.seen.Load(), c.m.tableVersion()) + 1
	ts.observe(v)
	return v
}

// gather fetches the tables of the given members, adopts the newest if
// adopt is set, and returns the newest version seen and how many members
// it could not read.
func (c *coordinator) gather(ctx context.Context, ids []string, adopt bool) (uint64, int) {
	if len(ids) == 0 {
		return 0, 0
	}
	var missed atomic.Int64
	m := c.m
	var mu sync.Mutex
	var newest *partition.Table
	parallel(ids, migrationConcurrency, func(id string) {
		ctx, cancel := clockwork.WithTimeout(ctx, m.cfg.Clock, m.cfg.DialTimeout)
		defer cancel()
		b, err := m.call(ctx, id, routeTableGet, nil)
		if err != nil {
			m.log.Debug("coordinator: could not read member's table", "member", id, "err", err)
			missed.Add(1)
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
		return 0, int(missed.Load())
	}
	if adopt && m.tables.apply(newest) {
		m.log.Info("coordinator adopted a newer partition table", "table", newest.String())
	}
	return newest.Version(), int(missed.Load())
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
	ctx, cancel := clockwork.WithTimeout(ctx, m.cfg.Clock, m.cfg.MigrationTimeout)
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
		ids = append(ids, i.ID)
	}
	c.send(ctx, t, stragglers(m.id, ids, c.acked, t.Version()))
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
		ctx, cancel := clockwork.WithTimeout(ctx, m.cfg.Clock, m.cfg.DialTimeout)
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
