package sources

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// TestMapReaderResumes stops readers of a map at several points, saves
// their positions and resumes readers splitting the partitions another way
// (a restart on another number of members): together they read every
// entry exactly once. The entries are spread thinly, so most partitions
// are empty or hold one entry.
func TestMapReaderResumes(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := grid.GetMap[string, int](c.Members()[0], "resume")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	entries := map[string]int{}
	var want []string
	for i := range 600 {
		k := fmt.Sprintf("k%d", i)
		entries[k] = i
		want = append(want, k)
	}
	require.NoError(t, m.PutAll(ctx, entries))
	slices.Sort(want)
	n := c.Members()[0].PartitionCount()

	for _, stop := range []int{0, 1, 2, 299, 599, 600} {
		var got []string
		positions := map[string][]byte{}
		for i, parts := range split(n, 3) {
			r := newMapReader(ctx, m, parts, true)
			budget := stop / (i + 1) // read unevenly
			for budget > 0 {
				buf, done, err := r.Read(nil, min(budget, 7))
				require.NoError(t, err)
				for _, it := range buf {
					got = append(got, it.V.Key)
					require.Equal(t, entries[it.V.Key], it.V.Value)
				}
				budget -= len(buf)
				if done {
					break
				}
			}
			pos, err := r.Positions()
			require.NoError(t, err)
			for k, v := range pos {
				positions[k] = v
			}
		}
		for _, parts := range split(n, 2) {
			r := newMapReader(ctx, m, parts, true)
			require.NoError(t, r.Seek(positions))
			for {
				buf, done, err := r.Read(nil, 5)
				require.NoError(t, err)
				for _, it := range buf {
					got = append(got, it.V.Key)
				}
				if done {
					break
				}
			}
		}
		slices.Sort(got)
		require.Equal(t, want, got, "stopped after about %d", stop)
	}

	r := newMapReader(ctx, m, []int{4}, true)
	require.ErrorContains(t, r.Seek(map[string][]byte{"4": []byte("x")}), `map resume: bad position "x" for partition 4`)
}

// TestMapReaderSkipsEmptyPartitions: one Read goes past a run of empty
// partitions instead of returning nothing for each (the engine backs off
// after a Read that returns nothing).
func TestMapReaderSkipsEmptyPartitions(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := grid.GetMap[string, int](c.Members()[0], "sparse")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, m.Put(ctx, "only", 1))
	r := newMapReader(ctx, m, split(c.Members()[0].PartitionCount(), 1)[0], false)
	var calls, empty int
	var got []pipeline.KV[string, int]
	for done := false; !done; {
		var buf []pipeline.SourceItem[pipeline.KV[string, int]]
		var err error
		buf, done, err = r.Read(nil, 100)
		require.NoError(t, err)
		calls++
		if len(buf) == 0 && !done {
			empty++
		}
		for _, it := range buf {
			got = append(got, it.V)
		}
	}
	require.Equal(t, []pipeline.KV[string, int]{{Key: "only", Value: 1}}, got)
	require.LessOrEqual(t, empty, 271/mapLoadsPerRead+1, "%d calls", calls)
}
