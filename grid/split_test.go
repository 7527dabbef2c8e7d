package grid_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

func splitCluster(t *testing.T, minClusterSize int) (*clustertest.Cluster, *clustertest.Network) {
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = minClusterSize
	cfg.RejoinInterval = 300 * time.Millisecond
	return clustertest.Start(t, 3, cfg), net
}

// putEach puts prefix-i = i for i below n through mp, and records each
// acknowledged write in acked.
func putEach(t *testing.T, ctx context.Context, mp *grid.Map[string, int], prefix string, n int, acked map[string]int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s-%d", prefix, i)
		require.NoError(t, mp.Put(ctx, k, i), "put %s", k)
		acked[k] = i
	}
}

// watchDropped records, from now on, every table m applies that lacks one
// of the members ids, and returns a function that lists them. When a split
// heals, the cut-off member's old gossip drops the others from each other's
// views for a moment: the coordinator must not take the partitions of a
// member that never left.
func watchDropped(t *testing.T, m *member.Member, ids []string) func() []string {
	var mu sync.Mutex
	var dropped []string
	remove := grid.HostOf(m).OnTableChange(func(_, nw *partition.Table) {
		if nw != nil && slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(nw.Members(), id) }) {
			mu.Lock()
			dropped = append(dropped, nw.String())
			mu.Unlock()
		}
	})
	t.Cleanup(remove)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dropped)
	}
}

// waitSides waits until each side sees only itself and, where it publishes
// tables, holds one owned by its own members.
func waitSides(t *testing.T, majority []*member.Member, minority *member.Member) {
	t.Helper()
	ids := clustertest.DataMembers(majority)
	require.Eventually(t, func() bool {
		if len(minority.Members()) != 1 {
			return false
		}
		for _, m := range majority {
			if len(m.Members()) != len(majority) || m.Partitions().CheckPlacement(ids, 1) != nil {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "the sides did not separate")
}

func TestSplitBrainWithQuorumMinorityRefusesWrites(t *testing.T) {
	t.Parallel()
	c, net := splitCluster(t, 2)
	ms := c.Members()
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, int](ms[0], "split")
	acked := map[string]int{}
	putEach(t, ctx, maj, "before", 300, acked)

	net.Split(ms[:2], ms[2:])
	waitSides(t, ms[:2], ms[2])
	require.False(t, ms[2].HasQuorum())
	min := grid.GetMap[string, int](ms[2], "split")
	err := min.Put(ctx, "minority", 1)
	require.ErrorIs(t, err, grid.ErrNoQuorum)
	require.ErrorContains(t, err, "no quorum")

	putEach(t, ctx, maj, "during", 300, acked) // the majority side keeps accepting writes
	var removed []string
	for i := 0; i < 300; i += 3 {
		k := fmt.Sprintf("before-%d", i)
		require.NoError(t, maj.Delete(ctx, k))
		delete(acked, k)
		removed = append(removed, k)
	}

	dropped := watchDropped(t, ms[0], clustertest.DataMembers(ms[:2]))
	net.Heal()
	c.WaitStable(3)
	require.Empty(t, dropped(), "the coordinator took the partitions of a member that never left")
	verifyAll(t, ms[2], "split", acked)
	_, ok, err := maj.Get(ctx, "minority")
	require.NoError(t, err)
	require.False(t, ok)
	// The minority's copies of what the majority removed are stale, not
	// written apart: nothing of them comes back.
	got, err := min.GetAll(ctx, removed)
	require.NoError(t, err)
	require.Empty(t, got, "entries removed while the minority was cut off came back")
}

// A member that lost the quorum keeps its old table until the
// coordinator's reaches it, which may be well after gossip shows it the
// others again. Meanwhile it must serve none of the partitions that table
// gives it: the other side moved them and wrote to them.
func TestStaleMemberServesNothingUntilTheCoordinatorsTableArrives(t *testing.T) {
	t.Parallel()
	c, net := splitCluster(t, 2)
	ms := c.Members()
	require.True(t, ms[0].IsCoordinator())
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, string](ms[0], "stale")
	stale := grid.GetMap[string, string](ms[2], "stale")
	keys := make([]string, 200)
	var itsOwn []string // keys the cut-off member owns before the split
	for i := range keys {
		keys[i] = fmt.Sprintf("k-%d", i)
		require.NoError(t, maj.Put(ctx, keys[i], "old"))
		if ownerOf(t, ms[2], keys[i]) == ms[2].ID() && len(itsOwn) < 8 {
			itsOwn = append(itsOwn, keys[i])
		}
	}
	require.NotEmpty(t, itsOwn)

	net.Split(ms[:2], ms[2:])
	waitSides(t, ms[:2], ms[2])
	require.True(t, ms[2].TableStale(), "the cut-off member's table is not marked stale")
	require.False(t, ms[0].TableStale())
	require.False(t, ms[1].TableStale())
	v, ok, err := stale.Get(ctx, itsOwn[0])
	require.NoError(t, err, "a member without a quorum still serves reads of what it holds")
	require.True(t, ok)
	require.Equal(t, "old", v)
	want := map[string]string{}
	for i, k := range keys {
		if i%2 == 0 {
			require.NoError(t, maj.Delete(ctx, k))
			continue
		}
		require.NoError(t, maj.Put(ctx, k, "new"))
		want[k] = "new"
	}

	// Gossip heals, but the coordinator cannot reach the returning member.
	net.CutTransport(ms[0], ms[2])
	net.Heal()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return ms[2].HasQuorum() }), "the returning member never saw the others")
	require.True(t, ms[2].TableStale(), "the returning member trusts its old table before hearing from the coordinator")

	for _, k := range itsOwn {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		v, ok, err := stale.Get(short, k)
		cancel()
		if err == nil {
			require.Equal(t, want[k], v, "key %s read from the stale member's old copy (found: %v)", k, ok)
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	err = stale.Put(short, "written-while-stale", "x")
	cancel()
	if err == nil {
		want["written-while-stale"] = "x" // acknowledged: it must not be lost
	}

	net.RestoreTransport()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !ms[2].TableStale() }), "the returning member never got the coordinator's table")
	c.WaitStable(3)
	for _, m := range ms {
		got, err := grid.GetMap[string, string](m, "stale").GetAll(ctx, append(keys, "written-while-stale"))
		require.NoError(t, err)
		require.Equal(t, want, got, "as read on %s", m.Name())
	}
}

func TestSplitBrainWithoutQuorumMergesLatestUpdateWins(t *testing.T) {
	t.Parallel()
	c, net := splitCluster(t, 0)
	ms := c.Members()
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, string](ms[0], "merge")
	min := grid.GetMap[string, string](ms[2], "merge")
	require.NoError(t, maj.Put(ctx, "shared", "before"))

	net.Split(ms[:2], ms[2:])
	waitSides(t, ms[:2], ms[2])
	// The minority publishes its own tables (no quorum is configured) and
	// takes over every partition.
	_, err := ms[2].WaitPartitions(ctx, func(tb *partition.Table) bool {
		return tb != nil && tb.CheckPlacement([]string{ms[2].ID()}, 1) == nil
	})
	require.NoError(t, err)

	for i := range 100 {
		require.NoError(t, maj.Put(ctx, fmt.Sprintf("maj-%d", i), "a"))
		require.NoError(t, min.Put(ctx, fmt.Sprintf("min-%d", i), "b"))
	}
	require.NoError(t, maj.Put(ctx, "shared", "majority"))
	require.NoError(t, min.Put(ctx, "shared", "minority, later")) // the later update

	net.Heal()
	c.WaitStable(3)
	var got map[string]string
	var scanErr error
	ok := assert.Eventually(t, func() bool {
		got = map[string]string{}
		if scanErr = maj.Scan(ctx, func(k, v string) bool { got[k] = v; return true }); scanErr != nil {
			return false
		}
		return len(got) == 201 && got["shared"] == "minority, later" && got["min-99"] == "b" && got["maj-0"] == "a"
	}, 30*time.Second, 50*time.Millisecond, "both sides' writes merged, latest update winning")
	if !ok {
		var missing []string
		for i := range 100 {
			for _, k := range []string{fmt.Sprintf("maj-%d", i), fmt.Sprintf("min-%d", i)} {
				if _, ok := got[k]; !ok {
					missing = append(missing, k)
				}
			}
		}
		t.Fatalf("scan error %v; %d entries, shared=%q, missing %v", scanErr, len(got), got["shared"], missing)
	}
}

// Invalidations from an owner the member cannot reach are lost, and the
// owner drops the member's subscription when it leaves its view: what the
// near cache holds of that owner's partitions must not outlive the split.
func TestNearCacheForgetsWhatAnUnreachableOwnerChanged(t *testing.T) {
	t.Parallel()
	c, net := splitCluster(t, 2)
	ms := c.Members()
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, string](ms[0], "near-split")
	near := grid.GetMap[string, string](ms[2], "near-split", grid.WithNearCache(grid.NearCacheConfig{}))
	var keys []string // owned by the majority side's members throughout
	for i := 0; len(keys) < 20; i++ {
		k := fmt.Sprintf("k-%d", i)
		if ownerOf(t, ms[0], k) != ms[2].ID() {
			keys = append(keys, k)
			require.NoError(t, maj.Put(ctx, k, "before"))
		}
	}
	for _, k := range keys {
		v, _, err := near.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, "before", v)
	}
	require.Positive(t, near.NearCacheStats().Entries)

	net.Split(ms[:2], ms[2:])
	waitSides(t, ms[:2], ms[2])
	for _, k := range keys {
		require.NoError(t, maj.Put(ctx, k, "during"))
	}
	net.Heal()
	c.WaitStable(3)
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !ms[2].TableStale() }))
	for _, k := range keys {
		v, _, err := near.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, "during", v, "key %s: the near cache served a value changed while its owner was unreachable", k)
	}
}

// When the member cut off is the oldest, it is the coordinator again once
// the network heals. Its table went stale without a quorum, so it adopts
// the table of the side that kept one instead of republishing its own over
// it: the majority's writes and deletions stand.
func TestSplitBrainCutOffCoordinatorAdoptsTheMajoritysTable(t *testing.T) {
	t.Parallel()
	c, net := splitCluster(t, 2)
	ms := c.Members()
	require.True(t, ms[0].IsCoordinator())
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, int](ms[1], "cut-coordinator")
	acked := map[string]int{}
	putEach(t, ctx, maj, "k", 200, acked)

	net.Split(ms[1:], ms[:1])
	waitSides(t, ms[1:], ms[0])
	var removed []string
	for i := range 200 {
		k := fmt.Sprintf("k-%d", i)
		if i%2 == 0 {
			require.NoError(t, maj.Delete(ctx, k))
			delete(acked, k)
			removed = append(removed, k)
			continue
		}
		require.NoError(t, maj.Put(ctx, k, -i))
		acked[k] = -i
	}

	net.Heal()
	c.WaitStable(3)
	require.True(t, ms[0].IsCoordinator())
	for _, m := range ms {
		verifyAll(t, m, "cut-coordinator", acked)
		got, err := grid.GetMap[string, int](m, "cut-coordinator").GetAll(ctx, removed)
		require.NoError(t, err)
		require.Empty(t, got, "entries removed while the coordinator was cut off came back (read on %s)", m.Name())
	}
}
