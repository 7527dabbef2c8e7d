package member

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/weir-dev/weir/partition"
)

// settledPoll is how often WaitSettled looks again when nothing it waits
// on signals a change: how far other members have got, and membership
// changes that have not yet produced a new table.
const settledPoll = 50 * time.Millisecond

// WaitSettled waits until the cluster, as this member sees it, has settled,
// and returns the table it settled on. Settled means:
//
//   - this member holds a partition table, not stale (see TableStale);
//   - every partition has an owner and min(BackupCount, n-1) backups, all
//     live data members that are not leaving, where n counts those members;
//   - owners are balanced: each of those members owns within one partition
//     of every other (one that owns nothing counts);
//   - no migration is pending: rebalancing this table over those members,
//     as the coordinator does, would change nothing;
//   - every other live member, lite members included, holds this very table
//     (same version, same assignment), so each one routes as this one does.
//
// The membership is this member's view: a member that gossip has not yet
// reported (one still joining, one just crashed) is not waited for, so a
// caller that starts members and then waits for the cluster should first
// see them all (WaitMembers). A settled cluster stays settled only until
// the next change of membership.
//
// WaitSettled returns ctx's error, wrapped with the reason the cluster is
// not settled yet, when ctx ends first, and ErrClosed once the member has
// shut down. On a side of a network partition without a quorum it waits
// until the quorum is back: no table is published meanwhile.
func (m *Member) WaitSettled(ctx context.Context) (*partition.Table, error) {
	poll := time.NewTicker(settledPoll)
	defer poll.Stop()
	for {
		if m.IsClosed() {
			return nil, ErrClosed
		}
		changed := m.tables.changed.Wait()
		t, why := m.settledHere()
		if why == "" {
			if why = m.settledEverywhere(ctx, t); why == "" {
				return t, nil
			}
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			return t, fmt.Errorf("member: cluster not settled (%s): %w", why, ctx.Err())
		case <-m.Done():
			return t, ErrClosed
		}
	}
}

// settledHere checks what this member knows by itself: its table against
// its view. It returns the table and, when the cluster has not settled,
// why not.
func (m *Member) settledHere() (*partition.Table, string) {
	t := m.Partitions()
	if t == nil {
		return nil, "no partition table yet"
	}
	if m.TableStale() {
		return t, fmt.Sprintf("table v%d may be stale: awaiting the coordinator's", t.Version())
	}
	var data []string
	for _, i := range m.Members() {
		if !i.Lite && !i.Leaving {
			data = append(data, i.ID)
		}
	}
	if len(data) == 0 {
		return t, "no data member that is not leaving"
	}
	if err := t.CheckPlacement(data, m.cfg.BackupCount); err != nil {
		return t, err.Error()
	}
	if n := len(partition.Plan(t, partition.Rebalance(t, data, m.cfg.BackupCount))); n > 0 {
		return t, fmt.Sprintf("table v%d: %d partitions still to migrate", t.Version(), n)
	}
	return t, ""
}

// settledEverywhere asks every other live member for its table and
// reports, when one does not hold t, which one.
func (m *Member) settledEverywhere(ctx context.Context, t *partition.Table) string {
	var others []Info
	for _, i := range m.Members() {
		if i.ID != m.id {
			others = append(others, i)
		}
	}
	var mu sync.Mutex
	why := ""
	parallel(others, 16, func(i Info) {
		reason := m.holdsTable(ctx, i, t)
		if reason != "" {
			mu.Lock()
			why = reason
			mu.Unlock()
		}
	})
	return why
}

// holdsTable reports why member i does not hold t, or "" when it does.
func (m *Member) holdsTable(ctx context.Context, i Info, t *partition.Table) string {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	b, err := m.call(ctx, i.ID, routeTableGet, nil)
	if err != nil {
		return fmt.Sprintf("cannot ask %s for its table: %v", i.Name, err)
	}
	theirs, _, err := m.decodeTable(b)
	switch {
	case err != nil:
		return fmt.Sprintf("%s's table: %v", i.Name, err)
	case theirs == nil:
		return fmt.Sprintf("%s has no table yet", i.Name)
	case theirs.Version() != t.Version() || !theirs.SameAssignment(t):
		return fmt.Sprintf("%s holds table v%d, this member v%d", i.Name, theirs.Version(), t.Version())
	}
	return ""
}
