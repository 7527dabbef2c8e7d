package member

import (
	"context"
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

// stallRetries bounds the coordinator steps in which a coordinator back
// from a stall insists on reading every member's table before it decides:
// a member that really is gone must not hold it up for long.
const stallRetries = 10

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
	limit := m.stallLimit()
	every := max(limit/4, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if d := now.Sub(last); d > every+limit {
			m.stalled(d)
		}
		last = now
	}
}

// stalled marks the table stale after the process stood still for d: until
// the coordinator's table reaches this member, it serves no partition, and
// a coordinator starts over, adopting the newest table of the members.
func (m *Member) stalled(d time.Duration) {
	m.tables.lost.Add(1)
	m.tables.logged.Store(true)
	m.log.Info("this member stood still longer than failure detection allows: its partition table may be stale; it serves no partition until the coordinator's table reaches it", "stalled", d.Round(time.Millisecond))
	m.coord.restart.Store(true)
	m.pokeCoordinator()
}
