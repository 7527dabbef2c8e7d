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

// splitOffCoordinator cuts the job's coordinator off from the others while
// input flows, and checks that the majority carries the job on from its
// last snapshot under a coordinator of its own, while the cut-off one stops
// its execution and coordinates nothing; then heals the network and waits
// until the job runs on every member again.
func splitOffCoordinator(t *testing.T, c *clustertest.Cluster, net *clustertest.Network, j *jobtest.Count) {
	t.Helper()
	ms := c.Members()
	i := slices.IndexFunc(ms, func(m *member.Member) bool { return m.IsCoordinator() })
	require.GreaterOrEqual(t, i, 0, "no coordinator")
	coord := ms[i]
	rest := slices.Delete(slices.Clone(ms), i, i+1)
	before := j.Info()
	require.Equal(t, coord.ID(), before.Coordinator)

	net.Split([]*member.Member{coord}, rest)
	split := j.WaitRecovered(before, clustertest.DataMembers(rest))
	require.NotEqual(t, coord.ID(), split.Coordinator, "the majority took the job over")
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !dag.RunsJob(coord, j.Job.ID) }),
		"the cut-off coordinator still runs the job")
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !dag.Coordinating(coord, j.Job.ID) }),
		"the cut-off coordinator still coordinates the job")

	net.Heal()
	c.WaitStable(len(ms))
	j.WaitRecovered(split, clustertest.DataMembers(ms))
}

// The job's coordinator is cut off by a network partition while input
// flows: the majority carries the job on from its last snapshot, the
// cut-off coordinator stops its execution, and once healed the job runs on
// every member again, its output exactly its input.
func TestCoordinatorCutOffBySplit(t *testing.T) {
	t.Parallel()
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	cfg.RejoinInterval = 300 * time.Millisecond
	c := clustertest.Start(t, 3, cfg)
	j := jobtest.StartCount(t, c.Members()[1], exactlyOnce(dag.WithScaleUpDelay(200*time.Millisecond))...)
	splitOffCoordinator(t, c, net, j)
	require.Zero(t, j.Finish(true))
}

// The soak variant: the coordinator is cut off again and again for
// WEIR_SOAK.
func TestCoordinatorCutOffBySplitSoak(t *testing.T) {
	t.Parallel()
	d := clustertest.Soak(t)
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	cfg.RejoinInterval = 300 * time.Millisecond
	c := clustertest.Start(t, 3, cfg)
	j := jobtest.StartCount(t, c.Members()[1], exactlyOnce(dag.WithScaleUpDelay(200*time.Millisecond))...)
	for end, n := time.Now().Add(d), 1; time.Now().Before(end); n++ {
		splitOffCoordinator(t, c, net, j)
		t.Logf("split %d: the job recovered", n)
	}
	require.Zero(t, j.Finish(true))
}
