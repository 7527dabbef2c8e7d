package dag_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// executionsSeen holds, per test, the highest Context.Execution a sink
// instance of the test.execution-seen job has processed items in.
var executionsSeen sync.Map // name -> *atomic.Uint64

func executionSeen(name string) *atomic.Uint64 {
	v, _ := executionsSeen.LoadOrStore(name, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

func init() {
	dag.Register("test.execution-seen", func(name string) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) { return n, true })).LocalParallelism(1)
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, _ []int64) error {
			seen := executionSeen(name)
			for {
				old := seen.Load()
				if ctx.Execution <= old || seen.CompareAndSwap(old, ctx.Execution) {
					return nil
				}
			}
		})).LocalParallelism(1)
		dag.Between[int64](src, sink).Distributed()
		return d, nil
	})
}

// JobInfo.Execution is the number the job's processors see as
// Context.Execution: 1 at first, and it grows with a restart.
func TestJobInfoExecutionGrowsWithARestart(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, time.Minute)
	name := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.execution-seen", name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = job.Cancel(ctx)
	})
	info := func() dag.JobInfo {
		inf, err := dag.JobByID(c.Members()[1], job.ID).Info(ctx)
		require.NoError(t, err)
		return inf
	}
	require.Eventually(t, func() bool { return executionSeen(name).Load() == 1 }, 30*time.Second, time.Millisecond)
	first := info()
	require.Equal(t, uint64(1), first.Execution)

	require.NoError(t, job.Restart(ctx))
	var after dag.JobInfo
	require.Eventually(t, func() bool {
		after = info()
		return after.Status == dag.Running && after.Restarts == first.Restarts+1
	}, 30*time.Second, 5*time.Millisecond)
	require.Equal(t, first.Execution+1, after.Execution)
	require.Eventually(t, func() bool { return executionSeen(name).Load() == after.Execution }, 30*time.Second, time.Millisecond,
		"the processors run the execution JobInfo names")
	listed, err := dag.Jobs(ctx, c.Members()[0])
	require.NoError(t, err)
	for _, j := range listed {
		if j.ID == job.ID {
			require.Equal(t, after.Execution, j.Execution, "Jobs lists the execution too")
		}
	}
}
