package dag_test

import (
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
