package member

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jonboulle/clockwork"

	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/partition"
)

// tableState holds the member's current partition table. Tables are
// immutable; a newer one replaces the current one whole, and only a newer
// version is ever applied, so members converge on the coordinator's latest.
type tableState struct {
	m       *Member
	current atomic.Pointer[partition.Table]
	// seen is the highest table version this member has heard of, applied or
	// not; a coordinator numbers its next table above it.
	seen atomic.Uint64

	mu        sync.Mutex // serializes apply and guards listeners
	listeners map[int]func(old, new *partition.Table)
	nextL     int
	changed   run.Signal

	// lost counts the times this member lost the quorum, and trusted is the
	// count at which it last learned the coordinator's table: while trusted
	// < lost, its table may be out of date (see Member.TableStale).
	lost, trusted atomic.Uint64
	// logged is set when the loss of a table's trust was logged, so that
	// its return is logged too (and not the first table of a member).
	logged atomic.Bool
}

func (ts *tableState) init(m *Member) {
	ts.m = m
	ts.listeners = map[int]func(old, new *partition.Table){}
}

func (ts *tableState) observe(v uint64) {
	for {
		cur := ts.seen.Load()
		if v <= cur || ts.seen.CompareAndSwap(cur, v) {
			return
		}
	}
}

// apply installs t if it is newer than the current table and reports whether
// it did. Listeners run before frozen partitions are released, so services
// route by the new table before writes waiting on a migration resume.
func (ts *tableState) apply(t *partition.Table) bool {
	ts.observe(t.Version())
	ts.mu.Lock()
	old := ts.current.Load()
	if old != nil && t.Version() <= old.Version() {
		ts.mu.Unlock()
		return false
	}
	if t.Count() != ts.m.cfg.PartitionCount {
		ts.mu.Unlock()
		ts.m.log.Error("ignoring partition table with wrong partition count", "version", t.Version(), "count", t.Count())
		return false
	}
	ts.current.Store(t)
	for _, l := range ts.listeners {
		l(old, t)
	}
	ts.mu.Unlock()
	ts.m.frozen.release(ts.m, t)
	ts.changed.Broadcast()
	ts.m.log.Debug("partition table applied", "table", t.String())
	return true
}

// Partitions returns the current partition table, or nil before the first.
func (m *Member) Partitions() *partition.Table { return m.tables.current.Load() }

// TableStale reports whether this member's table may be out of date: the
// member lost the quorum (Config.MinClusterSize) and has not yet learned the
// table of a coordinator that has one. The other side may have moved
// partitions meanwhile, so a member with a stale table must not act as the
// owner of any: what it holds may be overwritten, and what it would
// acknowledge lost. A member that never lost the quorum, or runs without
// one (MinClusterSize 1), never has a stale table.
func (m *Member) TableStale() bool {
	return m.tables.trusted.Load() < m.tables.lost.Load()
}

// checkQuorum marks the table stale when the view has no quorum. It runs
// whenever the view changes, before anything acts on the new view.
func (m *Member) checkQuorum() {
	if m.HasQuorum() {
		return
	}
	ts := &m.tables
	if ts.trusted.Load() == ts.lost.Add(1)-1 && m.Partitions() != nil {
		ts.logged.Store(true)
		m.log.Info("lost the quorum: this member's partition table may go stale; once the quorum is back, it serves no partition until the coordinator's table reaches it")
	}
}

// trust clears the stale mark set at or before generation lost (read before
// the table was checked), unless the quorum was lost again since, and
// reports whether it did.
func (ts *tableState) trust(lost uint64) bool {
	for {
		cur := ts.trusted.Load()
		if cur >= lost {
			return false
		}
		if ts.trusted.CompareAndSwap(cur, lost) {
			if ts.logged.Swap(false) {
				ts.m.log.Info("partition table current again", "version", ts.m.tableVersion())
			}
			return true
		}
	}
}

// heard notes a table the coordinator sent: if this member's table was
// stale and is now the coordinator's, it is current again. A coordinator
// marks its tables current only while it has the quorum and its own table
// is current.
func (m *Member) heard(from string, t *partition.Table, current bool) {
	lost := m.tables.lost.Load()
	if !current || m.tables.trusted.Load() >= lost {
		return
	}
	if c, ok := m.Coordinator(); !ok || c.ID != from || !m.HasQuorum() {
		return
	}
	cur := m.Partitions()
	if cur == nil {
		return
	}
	if cur.Version() == t.Version() && cur.SameAssignment(t) {
		m.tables.trust(lost)
		return
	}
	if cur.Version() >= t.Version() {
		// Ours is numbered at or above the coordinator's (a table the other
		// side published, or another table under the same number), and a
		// member applies only newer tables: ask the coordinator to publish
		// its own above ours.
		v := cur.Version() + 1
		m.group.Go(func(ctx context.Context) {
			if err := m.askForTable(ctx, from, v); err != nil {
				m.log.Debug("could not ask the coordinator for a newer table", "version", v, "err", err)
			}
		})
	}
}

// askForTable asks coordinator to publish a table of at least version v
// (see handleBump).
func (m *Member) askForTable(ctx context.Context, coordinator string, v uint64) error {
	b, err := wire.Marshal(&versionMsg{Version: v})
	if err != nil {
		return err
	}
	ctx, cancel := clockwork.WithTimeout(ctx, m.cfg.Clock, m.cfg.DialTimeout)
	defer cancel()
	_, err = m.call(ctx, coordinator, routeBump, b)
	return err
}

// isCurrent reports whether this member's table is the cluster's: it is
// the coordinator, has the quorum, and its table is not stale.
func (m *Member) isCurrent() bool {
	return m.IsCoordinator() && m.HasQuorum() && !m.TableStale()
}

// PartitionCount is the cluster's number of partitions.
func (m *Member) PartitionCount() int { return m.cfg.PartitionCount }

// WaitPartitions waits until ready returns true for the current table (which
// may be nil) and returns that table.
func (m *Member) WaitPartitions(ctx context.Context, ready func(*partition.Table) bool) (*partition.Table, error) {
	for {
		changed := m.tables.changed.Wait()
		t := m.Partitions()
		if ready(t) {
			return t, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return t, ctx.Err()
		case <-m.shutdownDone:
			return t, ErrClosed
		}
	}
}

// WaitVersion waits for a table of at least version v; when it is not
// here yet, it asks the coordinator for its table.
func (m *Member) WaitVersion(ctx context.Context, v uint64) (*partition.Table, error) {
	if t := m.Partitions(); t != nil && t.Version() >= v {
		return t, nil
	}
	m.fetchTable(ctx)
	return m.WaitPartitions(ctx, func(t *partition.Table) bool { return t != nil && t.Version() >= v })
}

// onTableChange registers fn to run, in order, each time a new table is
// applied (old is nil for the first). fn runs with the table lock held and
// must be quick; it must not call methods that apply tables. The returned
// function unregisters it.
func (m *Member) onTableChange(fn func(old, new *partition.Table)) (remove func()) {
	ts := &m.tables
	ts.mu.Lock()
	defer ts.mu.Unlock()
	id := ts.nextL
	ts.nextL++
	ts.listeners[id] = fn
	return func() {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		delete(ts.listeners, id)
	}
}

// tableMsg carries a table between members.
type tableMsg struct {
	Table []byte `msgpack:"t"`
	// Addrs maps member IDs to transport addresses, so a member can reach
	// a replica that gossip has not told it about yet.
	Addrs map[string]string `msgpack:"a,omitempty"`
	// Current is set by a coordinator whose table is the cluster's (see
	// Member.isCurrent): it makes a stale receiver's table current again.
	Current bool `msgpack:"c,omitempty"`
}

type versionMsg struct {
	Version uint64 `msgpack:"v"`
}

func (m *Member) encodeTable(t *partition.Table) ([]byte, error) {
	if t == nil {
		return wire.Marshal(&tableMsg{})
	}
	b, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return wire.Marshal(&tableMsg{Table: b, Addrs: m.transport.addrsOf(t.Members()), Current: m.isCurrent()})
}

// decodeTable decodes a table message; current is its Current flag.
func (m *Member) decodeTable(b []byte) (t *partition.Table, current bool, err error) {
	var msg tableMsg
	if err := wire.Unmarshal(b, &msg); err != nil {
		return nil, false, err
	}
	m.transport.learn(msg.Addrs)
	if len(msg.Table) == 0 {
		return nil, false, nil
	}
	t = new(partition.Table)
	if err := t.UnmarshalBinary(msg.Table); err != nil {
		return nil, false, fmt.Errorf("bad partition table: %w", err)
	}
	return t, msg.Current, nil
}

// handleTable receives a published table; the reply is the version this
// member now holds.
func (m *Member) handleTable(_ context.Context, req *Request) ([]byte, error) {
	t, current, err := m.decodeTable(req.Payload)
	if err != nil {
		return nil, err
	}
	if t != nil {
		m.tables.apply(t)
		m.heard(req.From, t, current)
	}
	return wire.Marshal(&versionMsg{Version: m.tableVersion()})
}

// handleTableGet returns this member's current table.
func (m *Member) handleTableGet(context.Context, *Request) ([]byte, error) {
	return m.encodeTable(m.Partitions())
}

func (m *Member) tableVersion() uint64 {
	if t := m.Partitions(); t != nil {
		return t.Version()
	}
	return 0
}

// refreshStaleTable asks the coordinator for its table while this member's
// is stale and the quorum is back: a coordinator that published while this
// member was away has no reason to send its table again.
func (m *Member) refreshStaleTable(ctx context.Context) {
	if !m.TableStale() || !m.HasQuorum() {
		return
	}
	ctx, cancel := clockwork.WithTimeout(ctx, m.cfg.Clock, m.cfg.DialTimeout)
	defer cancel()
	m.fetchTable(ctx)
}

// fetchTable asks the coordinator for its current table and applies it.
func (m *Member) fetchTable(ctx context.Context) {
	c, ok := m.Coordinator()
	if !ok || c.ID == m.id {
		return
	}
	b, err := m.call(ctx, c.ID, routeTableGet, nil)
	if err != nil {
		return
	}
	if t, current, err := m.decodeTable(b); err == nil && t != nil {
		m.tables.apply(t)
		m.heard(c.ID, t, current)
	}
}
