package member_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFiveMembersFormOneCluster(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 5, member.Config{})
	ms := c.Members()
	coord, ok := ms[0].Coordinator()
	require.True(t, ok)
	require.Equal(t, ms[0].ID(), coord.ID, "the oldest member coordinates")
	for _, m := range ms {
		require.Len(t, m.Members(), 5)
		require.Equal(t, ms[0].Partitions().Version(), m.Partitions().Version())
		require.True(t, ms[0].Partitions().SameAssignment(m.Partitions()))
		c2, _ := m.Coordinator()
		require.Equal(t, coord.ID, c2.ID)
	}
	// Balanced: 271 partitions over 5 members is 54 or 55 each.
	tbl := ms[0].Partitions()
	for _, m := range ms {
		n := len(tbl.Owned(m.ID()))
		require.True(t, n == 54 || n == 55, "member owns %d", n)
	}
}

func TestCrashedMemberIsDetectedAndItsPartitionsReassigned(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 5, member.Config{})
	ms := c.Members()
	victim := ms[2]
	before := ms[0].Partitions()
	owned := before.Owned(victim.ID())
	require.NotEmpty(t, owned)

	start := time.Now()
	victim.Terminate()
	c.WaitStable(4)
	t.Logf("crash detected and table reassigned in %v", time.Since(start))

	after := ms[0].Partitions()
	require.Greater(t, after.Version(), before.Version())
	for _, p := range owned {
		// The first surviving backup of each lost partition took it over
		// (promotion) at the failure, whatever the rebalance did later.
		require.NotEqual(t, victim.ID(), after.Owner(p))
	}
	for _, m := range c.Live() {
		_, seen := m.MemberByID(victim.ID())
		require.False(t, seen)
	}
}

func TestGracefulLeaveIsSeenPromptly(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	leaver := ms[1]
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	require.NoError(t, leaver.Shutdown(ctx))
	_, err := ms[0].WaitMembers(ctx, func(is []member.Info) bool { return len(is) == 2 })
	require.NoError(t, err)
	t.Logf("leave seen in %v", time.Since(start))
	// It moved its partitions away before leaving: the table that the others
	// hold never lost a replica.
	tbl := ms[0].Partitions()
	require.Empty(t, tbl.Owned(leaver.ID()))
	require.Empty(t, tbl.BackedUp(leaver.ID()))
	require.NoError(t, tbl.CheckPlacement([]string{ms[0].ID(), ms[2].ID()}, 1))
	require.NoError(t, leaver.Shutdown(ctx), "a second Shutdown returns nil")
}

func TestCoordinatorCrashHandsOver(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ms[0].Terminate()
	c.WaitStable(2)
	coord, ok := ms[1].Coordinator()
	require.True(t, ok)
	require.Equal(t, ms[1].ID(), coord.ID)
}

func TestJoinRebalancesToNewMember(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	m3 := c.Add(func(*member.Config) {})
	c.WaitStable(3)
	require.NotEmpty(t, c.Members()[0].Partitions().Owned(m3.ID()))
}

func TestLiteMemberOwnsNothing(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	lite := c.Add(func(cfg *member.Config) { cfg.Lite = true })
	c.WaitStable(3)
	tbl := lite.Partitions()
	require.NotNil(t, tbl, "a lite member knows the table, to route")
	require.Empty(t, tbl.Owned(lite.ID()))
	require.Empty(t, tbl.BackedUp(lite.ID()))
	info, ok := c.Members()[0].MemberByID(lite.ID())
	require.True(t, ok)
	require.True(t, info.Lite)
}

func TestTableChangeNotifications(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	m0 := c.Members()[0]
	changes := make(chan [2]uint64, 16)
	remove := member.HostOf(m0).OnTableChange(func(old, new *partition.Table) {
		changes <- [2]uint64{old.Version(), new.Version()}
	})
	defer remove()
	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	select {
	case ch := <-changes:
		require.Greater(t, ch[1], ch[0])
	case <-ctxT(t, 10*time.Second).Done():
		t.Fatal("no table change notified")
	}
	tbl, err := m0.WaitVersion(ctxT(t, 10*time.Second), m0.Partitions().Version())
	require.NoError(t, err)
	require.NotNil(t, tbl)
}

// A stale member whose table is numbered ahead of the coordinator's cannot
// take the coordinator's as current (it applies only newer tables): it asks
// the coordinator to publish above its version, and is current once that
// table arrives. It used to stay stale, serving no partition, until the
// coordinator happened to publish again.
func TestStaleMemberAheadOfTheCoordinatorGetsANewerTable(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.MinClusterSize = 2
	c := clustertest.Start(t, 2, cfg)
	ms := c.Members()
	require.True(t, ms[0].IsCoordinator())
	coordinators := ms[0].Partitions().Version()
	member.MakeStaleAhead(ms[1], 5)
	require.True(t, ms[1].TableStale())
	require.True(t, clustertest.PollUntil(30*time.Second, func() bool { return !ms[1].TableStale() }),
		"the member stayed stale with table v%d, the coordinator's v%d", ms[1].Partitions().Version(), ms[0].Partitions().Version())
	require.Greater(t, ms[0].Partitions().Version(), coordinators+5, "the coordinator did not publish above the member's version")
	require.Equal(t, ms[0].Partitions().Version(), ms[1].Partitions().Version())
}
