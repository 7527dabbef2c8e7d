package member

import (
	"context"
	"sync/atomic"
	"time"
)

// A member process can stand still: SIGSTOP, a VM paused or migrated, a
// very long GC or swap storm. If that lasts longer than failure detection,
// the others drop it, promote its backups and go on writing and deleting,
// while its own view, which saw nothing happen, still shows everyone live
// and its old table current. Left alone, such a member goes on serving
// partitions that have moved, and a coordinator goes on believing its old
// table is the cluster's: the others' newer table never reaches it, and the
// cluster stays unbalanced. So a member that notices it stood still treats
// its table as stale, exactly as one that lost the quorum does.
//
// The watcher alone notices too late: after SIGCONT every goroutine runs
// again at once, and a connection's reader may serve a request that waited
// in the socket before the watcher wakes. So whatever is about to act as an
// owner asks first (CheckStalled), against the watcher's last look.

// stallRetries bounds the coordinator steps in which a coordinator back
// from a stall insists on reading every member's table before it decides:
// a member that really is gone must not hold it up for long.
const stallRetries = 10

// stallWatch is the stall watcher's state: its period, its limit, and when
// it last looked, in nanoseconds of the monotonic clock since epoch (0
// while no watcher runs).
type stallWatch struct {
	epoch        time.Time
	every, limit time.Duration
	last         atomic.Int64
}

// since returns how long ago the watcher last looked, and false while no
// watcher runs.
func (w *stallWatch) since(now time.Time) (time.Duration, bool) {
	last := w.last.Load()
	if last == 0 {
		return 0, false
	}
	return time.Duration(int64(now.Sub(w.epoch)) - last), true
}

// take records a look at now and returns the time since the previous one,
// unless someone else recorded a look since last: only one of the watcher
// and CheckStalled reports a given stall.
func (w *stallWatch) take(now time.Time) (time.Duration, bool) {
	for {
		last := w.last.Load()
		n := max(int64(now.Sub(w.epoch)), 1)
		if n <= last {
			return 0, false
		}
		if w.last.CompareAndSwap(last, n) {
			return time.Duration(n - last), true
		}
	}
}

// stallLimit is the shortest stall after which the others may have dropped
// this member: the failure detector's shortest suspicion timeout (for
// clusters under ten members; confirmations from other members shorten a
// suspicion down to it).
func (m *Member) stallLimit() time.Duration {
	g := m.cfg.Gossip
	return time.Duration(g.SuspicionMult) * g.ProbeInterval
}

// watchStalls wakes every few tenths of the stall limit and compares the
// time that passed with the time it slept. It runs in real time, and only
// on the real clock: a test that steps a fake clock waits in real time
// between steps, which is no stall.
func (m *Member) watchStalls(ctx context.Context) {
	w := &m.stall
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d, ok := w.take(time.Now()); ok && d > w.every+w.limit {
			m.stalled(d)
		}
	}
}

// startStallWatch sets the watcher up; it runs only on the real clock.
func (m *Member) startStallWatch() {
	w := &m.stall
	w.limit = m.stallLimit()
	w.every = max(w.limit/4, time.Millisecond)
	w.epoch = time.Now()
	w.take(time.Now())
	m.group.Go(m.watchStalls)
}

// CheckStalled reports whether this process stood still, since the stall
// watcher last looked, longer than failure detection allows. A stall found
// here is handled before it returns, as the watcher handles one: the table
// is stale (TableStale) until the coordinator's reaches this member (a
// stall the watcher found first shows there too, not here). A
// service calls it before it acts as a partition's owner, and again before
// it acknowledges, so that a process back from SIGSTOP never serves a
// request that waited in its socket with the table it had before. It costs
// a clock read and an atomic load; without a watcher (a fake clock) it is
// always false.
func (m *Member) CheckStalled() bool {
	w := &m.stall
	now := time.Now()
	if d, ok := w.since(now); !ok || d <= w.every+w.limit {
		return false
	}
	if d, ok := w.take(now); ok && d > w.every+w.limit {
		m.stalled(d)
	}
	return true
}

// stalled marks the table stale after the process stood still for d: until
// the coordinator's table reaches this member, it serves no partition, and
// a coordinator starts over, adopting the newest table of the members.
func (m *Member) stalled(d time.Duration) {
	m.distrustTable()
	m.log.Info("this member stood still longer than failure detection allows: its partition table may be stale; it serves no partition until the coordinator's table reaches it", "stalled", d.Round(time.Millisecond))
}

// distrustTable marks the table stale and has the coordinator loop act on
// it: a coordinator starts over, the others ask the coordinator for its
// table.
func (m *Member) distrustTable() {
	m.tables.lost.Add(1)
	m.tables.logged.Store(true)
	m.coord.restart.Store(true)
	m.pokeCoordinator()
}

// TableOutdated tells the member that a peer holds a partition table
// numbered version, newer than the one this member acted on, in which this
// member no longer owns what it acted on as owner (a backup refused its
// changes). Unless the member has applied a table at least that new since,
// its table is marked stale, as after a stall: it serves no partition until
// the coordinator's table reaches it.
func (m *Member) TableOutdated(version uint64) {
	m.tables.observe(version)
	if m.tableVersion() >= version {
		return
	}
	m.distrustTable()
	m.log.Info("a member holds a newer partition table in which this member no longer owns a partition it served: it serves no partition until the coordinator's table reaches it", "version", version, "ours", m.tableVersion())
}
