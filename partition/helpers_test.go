package partition

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireBalanced checks everything Rebalance promises about its result for
// the live members and backup count, independently of how it got there.
func requireBalanced(t testing.TB, tb *Table, live []string, backupCount int) {
	t.Helper()
	live = sortedMembers(live)
	rows := make([][]string, tb.Count())
	for p := range rows {
		rows[p] = tb.Replicas(p)
	}
	_, err := NewTable(tb.Version(), rows)
	require.NoError(t, err, "rows must stay valid")

	if len(live) == 0 {
		for p, row := range rows {
			require.Empty(t, row, "partition %d with no live members", p)
		}
		return
	}
	// Plain checks with one require at the end: require per row would make
	// the property tests spend most of their time in t.Helper.
	want := 1 + min(backupCount, len(live)-1)
	owned := map[string]int{}
	backed := map[string]int{}
	for p, row := range rows {
		if len(row) != want {
			require.Failf(t, "wrong row length", "partition %d: %v, want %d replicas", p, row, want)
		}
		for i, m := range row {
			if _, ok := slices.BinarySearch(live, m); !ok {
				require.Failf(t, "dead replica", "partition %d: %q is not live", p, m)
			}
			if i == 0 {
				owned[m]++
			} else {
				backed[m]++
			}
		}
	}
	requireSpread(t, "owned", owned, live)
	requireSpread(t, "backups", backed, live)
}

func requireSpread(t testing.TB, what string, counts map[string]int, live []string) {
	t.Helper()
	lo, hi := counts[live[0]], counts[live[0]]
	for _, m := range live {
		lo, hi = min(lo, counts[m]), max(hi, counts[m])
	}
	require.LessOrEqual(t, hi-lo, 1, "%s counts %v", what, counts)
}

// candidate is the member that would own p after Promote: the first live
// replica of cur's row, or "".
func candidate(cur *Table, p int, live []string) string {
	for _, m := range cur.Replicas(p) {
		if slices.Contains(live, m) {
			return m
		}
	}
	return ""
}

// minOwnerMoves is the fewest partitions whose owner must differ from their
// candidate in any balanced table for live: a member can keep at most its
// quota of its candidates, and the larger quotas are best spent on the
// members with the most.
func minOwnerMoves(cur *Table, live []string) int {
	live = sortedMembers(live)
	n, m := cur.Count(), len(live)
	if m == 0 {
		return 0
	}
	want := map[string]int{}
	for p := range n {
		if c := candidate(cur, p, live); c != "" {
			want[c]++
		}
	}
	counts := make([]int, 0, m)
	for _, name := range live {
		counts = append(counts, want[name])
	}
	slices.SortFunc(counts, func(a, b int) int { return cmp.Compare(b, a) })
	kept := 0
	for rank, c := range counts {
		quota := n / m
		if rank < n%m {
			quota++
		}
		kept += min(c, quota)
	}
	return n - kept
}

// ownerMoves counts partitions whose target owner is not their candidate.
func ownerMoves(cur, target *Table, live []string) int {
	moved := 0
	for p := range cur.Count() {
		if target.Owner(p) != candidate(cur, p, live) {
			moved++
		}
	}
	return moved
}

// movement summarizes a plan: owner changes and (partition, member) copies.
func movement(cur, target *Table) (ownerChanges, added int) {
	for _, c := range Plan(cur, target) {
		if c.OwnerChanged {
			ownerChanges++
		}
		added += len(c.Added)
	}
	return ownerChanges, added
}

// load is how many replicas member holds, owned or backup.
func load(tb *Table, member string) int {
	return len(tb.Owned(member)) + len(tb.BackedUp(member))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
