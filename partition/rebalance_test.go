package partition

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInitial(t *testing.T) {
	for _, c := range []struct {
		name    string
		n       int
		members []string
		backups int
	}{
		{"default", DefaultCount, memberNames(3), 1},
		{"one member has no backups", DefaultCount, []string{"solo"}, 2},
		{"no backups", DefaultCount, memberNames(5), 0},
		{"backups capped by members", 10, memberNames(3), 5},
		{"one partition", 1, memberNames(4), 2},
		{"fewer partitions than members", 3, memberNames(10), 1},
		{"no partitions", 0, memberNames(2), 1},
		{"no members", 5, nil, 1},
		{"many", 1024, memberNames(50), 3},
		{"unsorted and repeated names", 31, []string{"c", "a", "b", "a"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := Initial(c.n, c.members, c.backups)
			require.Equal(t, uint64(1), tb.Version())
			require.Equal(t, c.n, tb.Count())
			requireBalanced(t, tb, c.members, c.backups)
			require.Empty(t, Plan(tb, Rebalance(tb, c.members, c.backups)), "not settled")
		})
	}
}

func TestInitialSpreadsFailover(t *testing.T) {
	// With the partitions of each owner backed up by every other member in
	// turn, losing any one member leaves a table that is balanced already.
	members := memberNames(4)
	tb := Initial(12, members, 1)
	for _, gone := range members {
		live := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == gone })
		promoted := Promote(tb, live)
		owned := map[string]int{}
		for p := range promoted.Count() {
			owned[promoted.Owner(p)]++
		}
		requireSpread(t, "owned after losing "+gone, owned, live)
	}
}

func TestRebalanceRefusesBadArguments(t *testing.T) {
	require.Panics(t, func() { Initial(-1, []string{"a"}, 0) })
	require.Panics(t, func() { Initial(4, []string{"a", ""}, 0) })
	require.Panics(t, func() { Rebalance(Initial(4, []string{"a"}, 0), []string{"a"}, -1) })
}

func TestRebalanceWithoutMembersEmptiesEveryRow(t *testing.T) {
	tb := Rebalance(Initial(8, memberNames(3), 1), nil, 1)
	require.Equal(t, uint64(2), tb.Version())
	for p := range tb.Count() {
		require.Empty(t, tb.Replicas(p))
	}
	require.Empty(t, tb.Members())

	// Members coming back find nothing to copy: the data is gone.
	back := Rebalance(tb, memberNames(2), 1)
	requireBalanced(t, back, memberNames(2), 1)
	for _, c := range Plan(tb, back) {
		require.Empty(t, c.Source)
	}
}

func TestJoinMovesOnlyTheJoinersShare(t *testing.T) {
	members := memberNames(4)
	cur := Initial(DefaultCount, members[:3], 1)
	target := Rebalance(cur, members, 1)
	requireBalanced(t, target, members, 1)

	owners, added := movement(cur, target)
	joiner := members[3]
	require.Equal(t, len(target.Owned(joiner)), owners, "only the joiner gains partitions")
	require.Equal(t, load(target, joiner), added, "only the joiner receives copies")
	require.Contains(t, []int{67, 68}, owners)
	for _, c := range Plan(cur, target) {
		require.Equal(t, cur.Owner(c.Partition), c.Source)
		for _, m := range c.Added {
			require.Equal(t, joiner, m)
		}
	}
}

func TestLeavePromotesThenRebalances(t *testing.T) {
	members := memberNames(5)
	cur := Initial(DefaultCount, members, 2)
	leaver := members[2]
	live := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == leaver })

	promoted := Promote(cur, live)
	require.Equal(t, cur.Version()+1, promoted.Version())
	for _, p := range cur.Owned(leaver) {
		require.Equal(t, cur.Backups(p)[0], promoted.Owner(p), "first backup takes over partition %d", p)
	}

	target := Rebalance(promoted, live, 2)
	requireBalanced(t, target, live, 2)
	require.Equal(t, promoted.Version()+1, target.Version())
	// Initial spreads each owner's first backups, so promotion alone
	// balances ownership and Rebalance only restores the backups.
	for p := range cur.Count() {
		require.Equal(t, promoted.Owner(p), target.Owner(p))
	}
	_, added := movement(promoted, target)
	require.Equal(t, load(cur, leaver), added, "copies re-create exactly the lost replicas")
}

func TestPromote(t *testing.T) {
	cur, err := NewTable(3, [][]string{
		{"a", "b", "c"},
		{"b", "a"},
		{"a"},
		{"c", "a", "b"},
		{},
	})
	require.NoError(t, err)

	require.Same(t, cur, Promote(cur, []string{"a", "b", "c"}), "nothing to do")
	require.Same(t, cur, Promote(cur, []string{"c", "d", "b", "a"}), "unknown live members change nothing")

	got := Promote(cur, []string{"b", "c"})
	require.Equal(t, uint64(4), got.Version())
	require.Equal(t, []string{"b", "c"}, got.Replicas(0), "first surviving backup owns it")
	require.Equal(t, []string{"b"}, got.Replicas(1), "owner keeps it, minus the dead backup")
	require.Empty(t, got.Replicas(2), "no survivor: the data is lost")
	require.Equal(t, []string{"c", "b"}, got.Replicas(3), "order kept")
	require.Empty(t, got.Replicas(4))
	require.Equal(t, []string{"a", "b", "c"}, cur.Members(), "cur unchanged")

	require.Panics(t, func() { Promote(cur, []string{""}) })
}

func TestRebalanceChangesBackupCount(t *testing.T) {
	members := memberNames(6)
	cur := Initial(DefaultCount, members, 1)

	up := Rebalance(cur, members, 3)
	requireBalanced(t, up, members, 3)
	_, added := movement(cur, up)
	require.Equal(t, 2*DefaultCount, added, "two new backups a row, nothing else")

	down := Rebalance(up, members, 0)
	requireBalanced(t, down, members, 0)
	owners, added := movement(up, down)
	require.Zero(t, owners)
	require.Zero(t, added)
}
