package dag_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/member"
)

// A member that takes a job over while its coordinator still runs it (it
// took the coordinator for gone: a split, a pause, a heavy load) must not
// run it beside the coordinator. Before, both numbered the next execution
// old+1: the members received two plans under one number and started one
// execution twice (its receivers closed a channel twice, and the member
// panicked), and each coordinator went on restoring and committing its own
// snapshots. Now the execution is claimed in the job record, one of the two
// loses the job, and the cluster's coordinator ends up coordinating it
// alone, exactly once throughout.
func TestTakeoverWhileTheCoordinatorRuns(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 2*time.Minute)
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(-1))...)
	require.True(t, dag.Coordinating(ms[0], j.Job.ID))

	restarted := make(chan error, 1)
	go func() { restarted <- j.Job.Restart(ctx) }()
	dag.TakeOverJobs(ms[1])
	<-restarted // it may have lost the job to the takeover: either is fine

	var info dag.JobInfo
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		info = j.Info()
		return info.Status == dag.Running && info.Coordinator == ms[0].ID() &&
			dag.Coordinating(ms[0], j.Job.ID) && !dag.Coordinating(ms[1], j.Job.ID) && !dag.Coordinating(ms[2], j.Job.ID)
	}), "the coordinator does not coordinate the job alone: %+v", info)
	j.WaitSnapshots(2)
	require.Zero(t, j.Finish(true))
}

// A takeover works from a record read by a scan, whose callback runs later:
// the job may have ended meanwhile. Cancel's write of Cancelled kept the
// record's coordinator, execution and snapshot, which were all the fence
// compared, so the takeover's claim went through: it overwrote Cancelled
// and ran the job again, and Wait never returned
// (TestCancelAndRestartInterruptASnapshot hung so, about once in 30 runs).
// Now every write stamps the record, and an ended job's record is final:
// the takeover is refused and the job stays cancelled.
func TestTakeoverFromARecordReadBeforeACancel(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx := ctxT(t, time.Minute)
	j := jobtest.StartCount(t, m, exactlyOnce()...)
	before := j.Info()

	takeOver, err := dag.ReadForTakeover(m, j.Job.ID)
	require.NoError(t, err)
	require.NoError(t, j.Job.Cancel(ctx))
	require.ErrorIs(t, j.Job.Wait(ctx), dag.ErrCancelled)
	takeOver()

	require.True(t, clustertest.PollUntil(30*time.Second, func() bool { return !dag.Coordinating(m, j.Job.ID) }),
		"the member took the cancelled job over")
	info := j.Info()
	require.Equal(t, dag.Cancelled, info.Status)
	require.Equal(t, before.Execution, info.Execution, "an execution started after the cancel")
	require.False(t, dag.RunsJob(m, j.Job.ID))
}

// A record write that landed but whose acknowledgement was lost is the
// coordinator's own: its next write, expecting the record before it, must
// not take the change for a takeover and give the job up.
func TestOwnUnacknowledgedWriteIsNoTakeover(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx := ctxT(t, time.Minute)
	j := jobtest.StartCount(t, m, exactlyOnce(dag.WithScaleUpDelay(-1))...)
	before := j.Info()

	require.NoError(t, dag.LandUnacknowledged(m, j.Job.ID))
	require.NoError(t, j.Job.Restart(ctx))
	info := j.WaitRecovered(before, []string{m.ID()})
	require.Equal(t, before.Restarts+1, info.Restarts, "the job was given up and taken over again")
	require.True(t, dag.Coordinating(m, j.Job.ID))
	require.Zero(t, j.Finish(true))
}

// A job taken over while suspended takes snapshots again once resumed.
// The member taking a job over started its snapshot loop only if the job
// ran once the takeover's own restart returned: never for a suspended job,
// whose takeover only claims the record, and not for a takeover whose
// restart another one replaced (a member left meanwhile) while the job was
// still restarting. The job then ran on without snapshots, and after the
// heal of TestCoordinatorCutOffBySplit none completed for a minute.
func TestJobTakenOverWhileSuspendedSnapshotsOnceResumed(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 2*time.Minute)
	j := jobtest.StartCount(t, ms[1], exactlyOnce(dag.WithScaleUpDelay(-1))...)
	coord := ms[slices.IndexFunc(ms, func(m *member.Member) bool { return m.IsCoordinator() })]
	require.NotEqual(t, ms[1], coord, "the input is fed through a member that stays")
	require.NoError(t, j.Job.Suspend(ctx))
	suspended := j.Info()
	require.Equal(t, dag.Suspended, suspended.Status)

	require.NoError(t, coord.Shutdown(ctx))
	c.WaitStable(2)
	live := c.Live()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		return slices.ContainsFunc(live, func(m *member.Member) bool { return dag.Coordinating(m, j.Job.ID) })
	}), "no member took the suspended job over")
	require.Equal(t, dag.Suspended, j.Info().Status)

	require.NoError(t, j.Job.Resume(ctx))
	j.WaitRecovered(suspended, clustertest.DataMembers(live))
	require.Zero(t, j.Finish(true))
}
