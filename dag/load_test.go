package dag_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// The overloaded job: four sources as fast as they can go, into one stage
// that takes 1 ms per item, on an edge whose queues hold 256 batches of 64
// items. What fills the queues ahead of a barrier is 4 × 256 × 64 items, a
// minute of that stage's work.
var overloadSunk atomic.Int64

func init() {
	dag.Register("test.overloaded", func(struct{}) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(_ *dag.Context, n int64) (int64, bool) { return n, true })).LocalParallelism(4)
		slow := d.AddVertex("slow", dag.SinkP(func(_ *dag.Context, items []int64) error {
			time.Sleep(time.Duration(len(items)) * time.Millisecond) // an expensive stage
			overloadSunk.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[int64](src, slow).Queue(256, 64)
		return d, nil
	})
}

// A job fed faster than it can process keeps taking snapshots, and
// suspends. Before, a barrier waited behind every item queued ahead of it:
// here a minute of work, so every snapshot timed out (after 30 s), and a
// suspend failed with it. The consumer now sizes its queues by its
// throughput (see debloat.go), so a barrier waits for a fraction of a
// second of work per stage.
func TestSnapshotsOfAnOverloadedJob(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx := ctxT(t, 2*time.Minute)
	job, err := dag.Submit(ctx, m, "test.overloaded", struct{}{},
		dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(ctx) })
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		ms, err := job.Metrics(ctx)
		require.NoError(t, err)
		for _, pm := range ms {
			if pm.Vertex == "slow" && pm.ItemsIn > 0 {
				return true
			}
		}
		return false
	}), "the slow stage never received anything")
	var info dag.JobInfo
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		info, err = job.Info(ctx)
		require.NoError(t, err)
		return info.Snapshots >= 2
	}), "snapshots do not complete under load: %+v", info)
	require.NoError(t, job.Suspend(ctx), "a suspend completes under load")
	st, err := job.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, dag.Suspended, st)
}
