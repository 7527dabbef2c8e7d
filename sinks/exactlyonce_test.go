package sinks_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/testjobs"
	"github.com/weir-dev/weir/member"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestExactlyOnceThroughAMemberCrash runs the counting job with exactly-once
// snapshots every 100 ms while a member crashes: the counts in the map and
// the lines in the committed files equal the input exactly. (The process
// tests in internal/chaos do the same with kill -9.)
func TestExactlyOnceThroughAMemberCrash(t *testing.T) {
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	dir := t.TempDir()
	ctx := ctxT(t, 120*time.Second)
	f := testjobs.Feed(ms[0], "readings")
	params := testjobs.CountParams{Input: "readings", Counts: "counts", Dir: dir}
	job, err := dag.Submit(ctx, ms[0], testjobs.Count, params,
		dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval), dag.WithScaleUpDelay(-1))
	require.NoError(t, err)

	waitSnapshots := func(n uint64) {
		require.Eventually(t, func() bool {
			info, err := job.Info(ctx)
			return err == nil && info.Snapshots >= n
		}, 60*time.Second, 10*time.Millisecond)
	}
	waitSnapshots(3)
	ms[2].Terminate() // a crash, not a leave
	require.Eventually(t, func() bool {
		info, err := job.Info(ctx)
		return err == nil && info.Restarts >= 1 && info.Status == dag.Running
	}, 60*time.Second, 10*time.Millisecond, "the job restarted on the survivors")
	info, err := job.Info(ctx)
	require.NoError(t, err)
	require.Greater(t, info.RestoredFrom, uint64(0), "restored from a snapshot, not started over")
	waitSnapshots(info.Snapshots + 3)

	want, err := f.Stop()
	require.NoError(t, err)
	// Lines become visible when the snapshot after them completes.
	var diff error
	ok := assert.Eventually(t, func() bool {
		got, err := testjobs.ReadOutput(ctx, ms[0], params.Counts, dir)
		if err != nil {
			diff = err
			return false
		}
		_, diff = testjobs.Diff(want, got, true)
		return diff == nil
	}, 60*time.Second, 20*time.Millisecond)
	require.True(t, ok, "output never equalled the input: %v", diff)
	require.NoError(t, job.Cancel(ctx))
}
