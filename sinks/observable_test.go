package sinks_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type observableParams struct {
	Src        Src
	Observable string
	Buffer     int  // 0: the default
	Singleton  bool // one sink instance in the cluster
}

func init() {
	dag.Register("sinks_test.observable", func(p observableParams) (*dag.DAG, error) {
		pl := pipeline.New()
		var opts []sinks.ObservableOption
		if p.Buffer != 0 {
			opts = append(opts, sinks.ObservableBuffer(p.Buffer))
		}
		sink := sinks.Observable[int](p.Observable, opts...)
		if p.Singleton {
			sink = sink.Singleton()
		}
		pipeline.WriteTo(p.Src.read(pl), sink)
		return pl.Compile()
	})
}

// observeAll reads the observer to its end and returns the items and the
// final error (nil: the job completed).
func observeAll(t *testing.T, obs *sinks.Observer[int]) ([]int, error) {
	t.Helper()
	var got []int
	for v, err := range obs.All(ctxT(t, time.Minute)) {
		if err != nil {
			return got, err
		}
		got = append(got, v)
	}
	return got, nil
}

// TestObservable: every item is delivered once, the stream ends with the
// job, and the observer may run on any member (the log's owner or not).
// A second job on the same observable is followed by a second observer,
// which skips the first job's entries.
func TestObservable(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ctx := ctxT(t, time.Minute)
		name := uniqueName(t)
		for i, m := range c.Members() {
			obs, err := sinks.Observe[int](ctx, m, name)
			require.NoError(t, err)
			n := 1000 * (i + 1)
			j := submit(t, c.Members()[0], "sinks_test.observable", observableParams{Src: Src{N: n}, Observable: name})
			got, err := observeAll(t, obs)
			require.NoError(t, err)
			require.Equal(t, ints(n), sorted(got), "job %d, observed on %s", i, m.Name())
			require.Equal(t, j.ID, obs.Job())
			_, err = obs.Next(ctx)
			require.ErrorIs(t, err, io.EOF, "the end is final")
		}
	})
}

// TestObservableOrder: one producer and one sink instance: items arrive in
// the source's order, also when the observer comes after the job started
// (ObserveJob) and the job ended long before it is read.
func TestObservableOrder(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		gateName, _ := newGate(t, open)
		name := uniqueName(t)
		j := submit(t, c.Members()[0], "sinks_test.observable", observableParams{Src: Src{N: 20_000, Gate: gateName}, Observable: name, Singleton: true})
		require.NoError(t, j.Wait(ctxT(t, time.Minute)))
		obs, err := sinks.ObserveJob[int](c.Members()[len(c.Members())-1], name, j)
		require.NoError(t, err)
		got, err := observeAll(t, obs)
		require.NoError(t, err)
		require.Equal(t, ints(20_000), got)
	})
}

// TestObservableExactlyOnceThroughRestart: an exactly-once job restarted
// from a snapshot while it writes delivers each item once, in order.
func TestObservableExactlyOnceThroughRestart(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		const n = 4000
		ms := c.Members()
		name := uniqueName(t)
		obs, err := sinks.Observe[int](ctxT(t, time.Minute), ms[len(ms)-1], name)
		require.NoError(t, err)
		gateName, g := newGate(t, 0)
		j := submit(t, ms[0], "sinks_test.observable", observableParams{Src: Src{N: n, Gate: gateName}, Observable: name, Singleton: true}, exactlyOnce...)
		restartMidway(t, j, g, n)
		got, err := observeAll(t, obs)
		require.NoError(t, err)
		require.Equal(t, ints(n), got)

		// Several writers, one per member.
		name = uniqueName(t)
		obs, err = sinks.Observe[int](ctxT(t, time.Minute), ms[0], name)
		require.NoError(t, err)
		gateName, g = newGate(t, 0)
		j = submit(t, ms[0], "sinks_test.observable", observableParams{Src: Src{N: n, Gate: gateName}, Observable: name}, exactlyOnce...)
		restartMidway(t, j, g, n)
		got, err = observeAll(t, obs)
		require.NoError(t, err)
		require.Equal(t, ints(n), sorted(got))
	})
}

// TestObservableJobEnds: a failed job's failure and a cancelled job's
// cancellation end the stream, once what was written is read.
func TestObservableJobEnds(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ctx := ctxT(t, time.Minute)
		m := c.Members()[len(c.Members())-1]

		name := uniqueName(t)
		obs, err := sinks.Observe[int](ctx, m, name)
		require.NoError(t, err)
		gateName, g := newGate(t, open)
		g.failAt.Store(500)
		submit(t, c.Members()[0], "sinks_test.observable", observableParams{Src: Src{N: 1000, Gate: gateName}, Observable: name})
		got, err := observeAll(t, obs)
		require.ErrorIs(t, err, sinks.ErrJobFailed)
		require.ErrorContains(t, err, "the gated source fails, as the test asked")
		require.LessOrEqual(t, len(got), 500)
		_, again := obs.Next(ctx)
		require.Equal(t, err, again, "the end is final")

		name = uniqueName(t)
		obs, err = sinks.Observe[int](ctx, m, name)
		require.NoError(t, err)
		gateName, _ = newGate(t, open)
		j := submit(t, c.Members()[0], "sinks_test.observable", observableParams{Src: Src{Gate: gateName}, Observable: name})
		for range 100 {
			_, err := obs.Next(ctx)
			require.NoError(t, err)
		}
		require.NoError(t, j.Cancel(ctx))
		_, err = observeAll(t, obs)
		require.ErrorIs(t, err, dag.ErrCancelled)
	})
}

// TestObservableBackpressure: with nobody observing, the job stops once
// half the observable's buffer is unread: the source emits no more than the
// job's queues, its batches in flight and the log hold, and the sink's
// metrics count its waits. An observer that comes lets the job go on, and
// receives everything in order, the source never running more than that
// bound ahead of it.
func TestObservableBackpressure(t *testing.T) {
	t.Parallel()
	const (
		batch    = 1024
		buffer   = 16
		inFlight = 16*batch + 4*batch + buffer*batch // queue, batches in flight, log
		read     = 4 * inFlight
	)
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ctx := ctxT(t, time.Minute)
		gateName, g := newGate(t, open)
		name := uniqueName(t)
		j := submit(t, c.Members()[0], "sinks_test.observable", observableParams{Src: Src{Gate: gateName}, Observable: name, Buffer: buffer, Singleton: true})

		require.Eventually(t, func() bool {
			return vertexMetrics(t, j, "observable-").Counters["observer_waits"] > 0
		}, 30*time.Second, time.Millisecond, "the sink never waited for an observer")
		require.LessOrEqual(t, g.emitted.Load(), int64(inFlight), "the job ran ahead of an absent observer")

		obs, err := sinks.ObserveJob[int](c.Members()[len(c.Members())-1], name, j)
		require.NoError(t, err)
		for i := range read {
			v, err := obs.Next(ctx)
			require.NoError(t, err)
			require.Equal(t, i, v)
			if ahead := g.emitted.Load() - int64(i+1); ahead > inFlight {
				require.FailNow(t, "the source ran ahead of the observer", "%d items ahead, bound %d", ahead, inFlight)
			}
		}
		require.NoError(t, j.Cancel(ctx))
		_, err = observeAll(t, obs)
		require.ErrorIs(t, err, dag.ErrCancelled)
	})
}

func TestObservableBadConfig(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, clustertest.Config(t))
	m := c.Members()[0]
	err := run(t, m, "sinks_test.observable", observableParams{Src: Src{N: 10}, Observable: uniqueName(t), Buffer: 8})
	require.ErrorContains(t, err, "buffer of 8 entries, want at least 16")
	err = run(t, m, "sinks_test.observable", observableParams{Src: Src{N: 10}})
	require.ErrorContains(t, err, "observable sink: no name")

	_, err = sinks.Observe[int](ctxT(t, time.Minute), m, "")
	require.ErrorContains(t, err, "no observable name")
	_, err = sinks.ObserveJob[int](m, "x", nil)
	require.ErrorContains(t, err, "no job")
}

// TestObservableOnLiteMember: a lite member, which runs no part of the job,
// observes it.
func TestObservableOnLiteMember(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, clustertest.Config(t))
	lite := c.Add(func(cfg *member.Config) { cfg.Lite = true })
	c.WaitStable(3)
	name := uniqueName(t)
	obs, err := sinks.Observe[int](ctxT(t, time.Minute), lite, name)
	require.NoError(t, err)
	submit(t, lite, "sinks_test.observable", observableParams{Src: Src{N: 500}, Observable: name})
	got, err := observeAll(t, obs)
	require.NoError(t, err)
	require.Equal(t, ints(500), sorted(got))
}
