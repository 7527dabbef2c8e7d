package grid_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// Stats counts the operations of a member's handles only while stats are
// on, and reports the entries each member owns and backs up.
func TestStats(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	mp := grid.GetMap[int, string](ms[0], "stats")
	find := func(m *member.Member) grid.MapStats {
		for _, s := range grid.Stats(m) {
			if s.Name == "stats" {
				return s
			}
		}
		return grid.MapStats{}
	}

	require.NoError(t, mp.Put(ctx, 0, "uncounted"))
	require.Zero(t, find(ms[0]).Ops)

	grid.EnableStats(ms[0], true)
	const n = 100
	for i := range n {
		require.NoError(t, mp.Put(ctx, i, "v"))
		_, _, err := mp.Get(ctx, i)
		require.NoError(t, err)
	}
	require.NoError(t, mp.Delete(ctx, 0))
	_, err := mp.GetAll(ctx, []int{1, 2, 3})
	require.NoError(t, err)
	grid.EnableStats(ms[0], false)
	_, _, err = mp.Get(ctx, 1)
	require.NoError(t, err)

	s := find(ms[0])
	want := map[string]int64{"get": n, "put": n, "delete": 1, "get_all": 1}
	for k, name := range grid.OpKinds {
		require.Equal(t, want[name], s.Ops[k], name)
	}
	// One operation in LatencySampling of each stripe is timed, so a
	// hundred operations of one goroutine give some samples.
	var sampled int64
	for _, b := range s.Latency[0] {
		sampled += b
	}
	require.Positive(t, sampled)
	require.LessOrEqual(t, sampled, int64(n))
	require.Positive(t, s.LatencySum[0])

	// The entries: owned on both members, each backed up by the other.
	s1, err := grid.StatsOf(ctx, ms[0], ms[1].ID())
	require.NoError(t, err)
	var other grid.MapStats
	for _, x := range s1 {
		if x.Name == "stats" {
			other = x
		}
	}
	require.EqualValues(t, n-1, s.Entries+other.Entries)
	require.Equal(t, s.Entries, other.BackupEntries)
	require.Equal(t, other.Entries, s.BackupEntries)
}
