package sinks_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type listParams struct {
	Src       Src
	List      string
	Singleton bool // one sink instance in the cluster
}

func init() {
	dag.Register("sinks_test.list", func(p listParams) (*dag.DAG, error) {
		pl := pipeline.New()
		sink := sinks.List[int](p.List)
		if p.Singleton {
			sink = sink.Singleton()
		}
		pipeline.WriteTo(p.Src.read(pl), sink)
		return pl.Compile()
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ctx := ctxT(t, 30*time.Second)
		ms := c.Members()
		name := uniqueName(t)
		require.NoError(t, run(t, ms[0], "sinks_test.list", listParams{Src: Src{N: 2000}, List: name}))
		for _, m := range ms {
			got, err := sinks.ReadList[int](ctx, m, name)
			require.NoError(t, err)
			require.Equal(t, ints(2000), sorted(got), "read through member %s", m.Name())
		}

		// A second job appends; its items come after the first one's.
		require.NoError(t, run(t, ms[0], "sinks_test.list", listParams{Src: Src{N: 10}, List: name}))
		got, err := sinks.ReadList[int](ctx, ms[len(ms)-1], name)
		require.NoError(t, err)
		require.Len(t, got, 2010)
		require.Equal(t, ints(10), sorted(got[2000:]))

		require.NoError(t, sinks.ClearList(ctx, ms[0], name))
		got, err = sinks.ReadList[int](ctx, ms[len(ms)-1], name)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

// TestListOrderPerInstance: the items of one sink instance are read in the
// order it received them (one producer and one instance here, so in the
// source's order).
func TestListOrderPerInstance(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		gateName, _ := newGate(t, open)
		name := uniqueName(t)
		require.NoError(t, run(t, c.Members()[0], "sinks_test.list", listParams{Src: Src{N: 5000, Gate: gateName}, List: name, Singleton: true}))
		got, err := sinks.ReadList[int](ctxT(t, 30*time.Second), c.Members()[0], name)
		require.NoError(t, err)
		require.Equal(t, ints(5000), got)
	})
}

// TestListExactlyOnceThroughRestart restarts an exactly-once job from a
// snapshot while it writes: items written after that snapshot are written
// again by the restarted execution, and ReadList returns each item once.
// While the job runs, it returns only what completed snapshots cover: never
// a repeat.
func TestListExactlyOnceThroughRestart(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		const n = 4000
		ctx := ctxT(t, time.Minute)
		ms := c.Members()
		gateName, g := newGate(t, 0)
		name := uniqueName(t)
		j := submit(t, ms[0], "sinks_test.list", listParams{Src: Src{N: n, Gate: gateName}, List: name, Singleton: true}, exactlyOnce...)
		restartMidway(t, j, g, n)
		got, err := sinks.ReadList[int](ctx, ms[len(ms)-1], name)
		require.NoError(t, err)
		require.Equal(t, ints(n), got, "each item once, in order (one producer, one sink instance)")

		// Many sink instances, on every member.
		gateName, g = newGate(t, 0)
		name = uniqueName(t)
		j = submit(t, ms[0], "sinks_test.list", listParams{Src: Src{N: n, Gate: gateName}, List: name}, exactlyOnce...)
		restartMidway(t, j, g, n)
		got, err = sinks.ReadList[int](ctx, ms[len(ms)-1], name)
		require.NoError(t, err)
		require.Equal(t, ints(n), sorted(got), "each item once")
	})
}

// TestListWhileRunning: ReadList of a running exactly-once job returns what
// its completed snapshots cover, without repeats, and grows with them.
func TestListWhileRunning(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, clustertest.Config(t))
	ctx := ctxT(t, time.Minute)
	gateName, g := newGate(t, 1000)
	name := uniqueName(t)
	j := submit(t, c.Members()[0], "sinks_test.list", listParams{Src: Src{Gate: gateName}, List: name}, exactlyOnce...)
	readOnce := func(m int) []int {
		got, err := sinks.ReadList[int](ctx, c.Members()[m], name)
		require.NoError(t, err)
		got = sorted(got)
		if len(got) > 0 {
			require.Equal(t, ints(len(got)), got, "items of the source's first ones, each once")
		}
		return got
	}
	require.Eventually(t, func() bool { return len(readOnce(1)) == 1000 }, 30*time.Second, 5*time.Millisecond)
	g.limit.Store(2000)
	require.Eventually(t, func() bool { return len(readOnce(2)) == 2000 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, j.Cancel(ctx))
	require.ErrorIs(t, j.Wait(ctx), dag.ErrCancelled)
	require.Len(t, readOnce(0), 2000, "a cancelled job keeps what its snapshots covered")
}

func TestListNoName(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, clustertest.Config(t))
	err := run(t, c.Members()[0], "sinks_test.list", listParams{Src: Src{N: 1}})
	require.ErrorContains(t, err, "list sink: no name")
}
