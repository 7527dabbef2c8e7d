package dag_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

type failParams struct {
	FailAt   int64 // the processor fails at this item
	Panic    bool
	OnMember int // index (in the plan's order) of the member whose processor fails
}

func init() {
	dag.Register("test.fail", func(p failParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) {
			return n, true // endless: only the failure ends the job
		})).LocalParallelism(1)
		fail := d.AddVertex("fragile", dag.MapP(func(v int64) int64 { return v }))
		_ = fail
		boom := d.AddVertex("boom", func() dag.Processor { return &failing{p: p} }).LocalParallelism(1)
		dag.Between[int64](src, fail)
		dag.Between[int64](fail, boom).Distributed()
		return d, nil
	})
	dag.Register("test.endless", func(struct{}) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) { return n, true }))
		sink := d.AddVertex("sink", dag.SinkP(func(*dag.Context, []int64) error { return nil }))
		dag.Between[int64](src, sink).Distributed()
		return d, nil
	})
}

type failing struct {
	p    failParams
	ctx  *dag.Context
	seen int64
}

func (f *failing) Init(ctx *dag.Context) error { f.ctx = ctx; return nil }

func (f *failing) Process(_ int, in *dag.Inbox) error {
	f.seen += int64(in.Len())
	in.Consume(in.Len())
	if f.ctx.MemberIndex == f.p.OnMember && f.seen >= f.p.FailAt {
		if f.p.Panic {
			panic("the fragile processor broke")
		}
		return errors.New("the fragile processor broke")
	}
	return nil
}

func (f *failing) Complete() (bool, error) { return true, nil }

func TestFailingProcessorFailsTheJobEverywhere(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprintf("panic=%v", panics), func(t *testing.T) {
			ctx := ctxT(t, 60*time.Second)
			job, err := dag.Submit(ctx, c.Members()[2], "test.fail", failParams{FailAt: 50_000, Panic: panics, OnMember: 1})
			require.NoError(t, err)
			err = job.Wait(ctx)
			require.Error(t, err)
			require.Contains(t, err.Error(), "the fragile processor broke")
			require.Contains(t, err.Error(), "boom#")
			if panics {
				require.Contains(t, err.Error(), "panicked")
			}
			st, err := job.Status(ctx)
			require.NoError(t, err)
			require.Equal(t, dag.Failed, st)
			// Every member stopped its part: no processor is left running.
			require.Eventually(t, func() bool {
				m, err := job.Metrics(ctx)
				return err == nil && len(m) == 0
			}, 10*time.Second, 10*time.Millisecond)
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	job, err := dag.Submit(ctx, c.Members()[1], "test.endless", struct{}{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := job.Status(ctx)
		return err == nil && st == dag.Running
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, job.Cancel(ctx))
	require.ErrorIs(t, job.Wait(ctx), dag.ErrCancelled)
	st, err := job.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, dag.Cancelled, st)
	jobs, err := dag.Jobs(ctx, c.Members()[0])
	require.NoError(t, err)
	require.NotEmpty(t, jobs)
	require.Equal(t, job.ID, jobs[0].ID)
}

func TestUnknownJob(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	_, err := dag.Submit(ctxT(t, 10*time.Second), c.Members()[0], "no.such.job", 1)
	require.ErrorIs(t, err, dag.ErrUnknownJob)
	require.ErrorContains(t, err, `"no.such.job"`)
}

// A fast source and a sink that takes one item per call: the queues fill
// up to their bounds and stay there; nothing grows.
func TestBackpressureBoundsQueues(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	const window = 64 << 10
	cfg.StreamWindow = window
	c := clustertest.Start(t, 2, cfg)
	ctx := ctxT(t, 60*time.Second)
	job, err := dag.Submit(ctx, c.Members()[0], "test.slow", struct{}{})
	require.NoError(t, err)
	// Bound: each sink instance has one queue per local producer and one
	// per remote member, each at most 4 batches of 64 items.
	const batches, batchSize, par = 4, 64, 2
	bound := int64((par + 1) * batches * batchSize)
	var maxSeen int64
	var full atomic.Bool
	require.Eventually(t, func() bool {
		ms, err := job.Metrics(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.Vertex != "sink" {
				continue
			}
			maxSeen = max(maxSeen, m.Queued)
			require.LessOrEqual(t, m.Queued, bound, "queue of %s#%d beyond its bound", m.Vertex, m.Instance)
			if m.Queued >= bound/2 {
				full.Store(true)
			}
		}
		return full.Load() && sourceEmitted(ms) > 100_000
	}, 30*time.Second, 20*time.Millisecond, "the queues never filled (max %d)", maxSeen)
	// The source keeps trying, but cannot get more than the bound ahead.
	ms, err := job.Metrics(ctx)
	require.NoError(t, err)
	var in, out int64
	for _, m := range ms {
		switch m.Vertex {
		case "source":
			out += m.ItemsOut
		case "sink":
			in += m.ItemsIn
		}
	}
	// In flight: the sinks' queues, the sources' output buffers and the
	// senders' queues (a few batches each), and on the distributed edge at
	// most a window of bytes on each side of the stream (an item is at least
	// one byte).
	inFlight := 2*bound + 2*par*batches*batchSize + 2*2*window
	require.LessOrEqual(t, out-in, int64(inFlight), "items in flight stay bounded")
	require.NoError(t, job.Cancel(ctx))
	require.ErrorIs(t, job.Wait(ctx), dag.ErrCancelled)
}

func sourceEmitted(ms []dag.ProcessorMetrics) int64 {
	var n int64
	for _, m := range ms {
		if m.Vertex == "source" {
			n += m.ItemsOut
		}
	}
	return n
}

type slowSink struct{}

func (slowSink) Init(*dag.Context) error { return nil }
func (slowSink) Process(_ int, in *dag.Inbox) error {
	in.Consume(1)
	return nil
}
func (slowSink) Complete() (bool, error) { return true, nil }

func init() {
	dag.Register("test.slow", func(struct{}) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) { return n, true })).LocalParallelism(2)
		sink := d.AddVertex("sink", func() dag.Processor { return slowSink{} }).LocalParallelism(2)
		dag.Between[int64](src, sink).Distributed().Queue(4, 64)
		return d, nil
	})
}
