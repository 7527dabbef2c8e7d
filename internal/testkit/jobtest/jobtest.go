// Package jobtest drives the counting job of package testjobs from tests:
// it feeds the input, submits the job, waits for snapshots and restarts,
// and checks the output against the input.
package jobtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// Watch follows a running job from a test: its info, its snapshots, its
// recovery. Count and KafkaCount embed it.
type Watch struct {
	T   testing.TB
	Job *dag.Job
}

// Count is a running counting job, fed through member M.
type Count struct {
	Watch
	M      *member.Member
	Feeder *testjobs.Feeder
	Params testjobs.CountParams
}

// StartCount feeds the input through m and submits the counting job (with
// a file sink in a temporary directory) with opts, then waits for its first
// three snapshots if it takes any. Test cleanup cancels the job.
func StartCount(t testing.TB, m *member.Member, opts ...dag.JobOption) *Count {
	t.Helper()
	j := &Count{Watch: Watch{T: t}, M: m, Params: testjobs.CountParams{Input: "readings", Counts: "counts", Dir: t.TempDir()}}
	j.Feeder = testjobs.Feed(m, j.Params.Input)
	t.Cleanup(func() { _, _ = j.Feeder.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := dag.Submit(ctx, m, testjobs.Count, j.Params, opts...)
	require.NoError(t, err)
	j.Job = job
	t.Cleanup(func() { // before the file sink's directory goes
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = job.Cancel(ctx)
	})
	if j.Info().Config.Guarantee != dag.None {
		j.WaitSnapshots(3)
	}
	return j
}

// Info returns the job's info.
func (j *Watch) Info() dag.JobInfo {
	j.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := j.Job.Info(ctx)
	require.NoError(j.T, err)
	return info
}

// WaitSnapshots waits for n more snapshots than the job has now.
func (j *Watch) WaitSnapshots(n uint64) {
	j.T.Helper()
	from := j.Info().Snapshots
	ok := clustertest.PollUntil(time.Minute, func() bool { return j.Info().Snapshots >= from+n })
	require.True(j.T, ok, "%d snapshots did not complete: %+v", n, j.Info())
}

// WaitRecovered waits until the job runs on exactly members, restarted
// after before from a snapshot, then for two more snapshots.
func (j *Watch) WaitRecovered(before dag.JobInfo, members []string) dag.JobInfo {
	j.T.Helper()
	want := slices.Sorted(slices.Values(members))
	var info dag.JobInfo
	ok := clustertest.PollUntil(time.Minute, func() bool {
		info = j.Info()
		got := slices.Sorted(slices.Values(info.Members))
		return info.Status == dag.Running && info.Restarts > before.Restarts && slices.Equal(got, want)
	})
	require.True(j.T, ok, "the job did not restart on %v: %+v", want, info)
	require.Greater(j.T, info.RestoredFrom, uint64(0), "the job started over instead of restoring a snapshot")
	j.WaitSnapshots(2)
	return j.Info()
}

// Finish stops the input and waits until the output matches it: equal,
// exactly once; with no reading missing, at least once. It returns the
// readings written more than once.
func (j *Count) Finish(exactlyOnce bool) int {
	j.T.Helper()
	want, err := j.Feeder.Stop()
	require.NoError(j.T, err)
	return j.WaitOutput(want, exactlyOnce)
}

// WaitOutput waits until the output matches want (see Finish).
func (j *Count) WaitOutput(want testjobs.Output, exactlyOnce bool) int {
	j.T.Helper()
	var repeats int
	var diff error
	ok := clustertest.PollUntil(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := testjobs.ReadOutput(ctx, j.M, j.Params.Counts, j.Params.Dir)
		if err != nil {
			diff = err
			return false
		}
		repeats, diff = testjobs.Diff(want, got, exactlyOnce)
		return diff == nil
	})
	require.True(j.T, ok, "the output never matched the %d readings fed: %v", len(want.Lines), diff)
	j.T.Logf("%d readings fed (%d puts retried), output matched", len(want.Lines), j.Feeder.Retries())
	return repeats
}
