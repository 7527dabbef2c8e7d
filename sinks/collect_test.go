package sinks_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type collectParams struct {
	Src       Src
	Collector string
	Strings   bool // write strings (to a collector of ints: refused)
}

func init() {
	dag.Register("sinks_test.collect", func(p collectParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := p.Src.read(pl)
		if p.Strings {
			pipeline.WriteTo(pipeline.Map(src, func(i int) string { return "x" }), sinks.Collect[string](p.Collector))
		} else {
			pipeline.WriteTo(src, sinks.Collect[int](p.Collector))
		}
		return pl.Compile()
	})
}

// newCollector makes a collector the test's cleanup closes.
func newCollector(t *testing.T) *sinks.Collector[int] {
	t.Helper()
	c, err := sinks.NewCollector[int](uniqueName(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCollect(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ctx := ctxT(t, 30*time.Second)
		for _, opts := range [][]dag.JobOption{nil, exactlyOnce} {
			col := newCollector(t)
			j := submit(t, c.Members()[0], "sinks_test.collect", collectParams{Src: Src{N: 2000}, Collector: col.Name()}, opts...)
			got, err := col.Wait(ctx, j)
			require.NoError(t, err)
			require.Equal(t, ints(2000), sorted(got))
			require.Equal(t, 2000, col.Len())
			col.Reset()
			require.Empty(t, col.Items())
		}
	})
}

// TestCollectExactlyOnceThroughRestart restarts an exactly-once job from a
// snapshot while it writes: the items written after that snapshot, which
// the restarted execution writes again, are collected once. While the job
// runs, the collector holds only what completed snapshots cover: never a
// repeat.
func TestCollectExactlyOnceThroughRestart(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		const n = 4000
		gateName, g := newGate(t, 0)
		col := newCollector(t)
		j := submit(t, c.Members()[0], "sinks_test.collect", collectParams{Src: Src{N: n, Gate: gateName}, Collector: col.Name()}, exactlyOnce...)
		restartMidway(t, j, g, n)
		require.Equal(t, ints(n), sorted(col.Items()), "each item once")
	})
}

// WaitLen waits for items of a job that does not end; with exactly-once
// they come as snapshots complete, and never twice.
func TestCollectWaitLen(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	gateName, g := newGate(t, 500)
	col := newCollector(t)
	submit(t, c.Members()[0], "sinks_test.collect", collectParams{Src: Src{Gate: gateName}, Collector: col.Name()}, exactlyOnce...)
	got, err := col.WaitLen(ctx, 500)
	require.NoError(t, err)
	require.Equal(t, ints(500), sorted(got))
	g.limit.Store(800)
	got, err = col.WaitLen(ctx, 800)
	require.NoError(t, err)
	require.Equal(t, ints(800), sorted(got))

	require.NoError(t, col.Close())
	require.NoError(t, col.Close(), "closing again")
	_, err = col.WaitLen(ctx, 801)
	require.ErrorIs(t, err, sinks.ErrCollectorClosed)
}

// A Collect sink with no collector of its name in the process, or one of
// another item type, fails the job and says why.
func TestCollectRefuses(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	err := run(t, m, "sinks_test.collect", collectParams{Src: Src{N: 10}, Collector: uniqueName(t)})
	require.ErrorContains(t, err, "no collector registered")

	col := newCollector(t)
	err = run(t, m, "sinks_test.collect", collectParams{Src: Src{N: 10}, Collector: col.Name(), Strings: true})
	require.ErrorContains(t, err, "collects int, the sink writes string")

	_, err = sinks.NewCollector[int](col.Name())
	require.ErrorContains(t, err, "already registered")
	require.NoError(t, col.Close())
	err = run(t, m, "sinks_test.collect", collectParams{Src: Src{N: 10}, Collector: col.Name()})
	require.ErrorContains(t, err, "no collector registered", "a closed collector is no longer registered")
	again, err := sinks.NewCollector[int](col.Name())
	require.NoError(t, err, "the name is free again")
	require.NoError(t, again.Close())
}
