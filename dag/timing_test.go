package dag_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/member"
)

// The scale-up delay is counted on the coordinator's clock: a job moves
// onto a joining member once that clock has passed the delay, and not
// before; the test steps the clock instead of waiting.
func TestScaleUpDelayIsSteppedOnTheCoordinatorsClock(t *testing.T) {
	const delay = time.Minute
	clock := clockwork.NewFakeClockAt(time.Now())
	c := clustertest.Start(t, 0, clustertest.Config(t))
	coord := c.Add(func(cfg *member.Config) { cfg.Clock = clock })
	c.Add(func(*member.Config) {})
	c.WaitStable(2)
	j := jobtest.StartCount(t, coord, dag.WithScaleUpDelay(delay))
	before := j.Info()

	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	want := slices.Sorted(slices.Values(clustertest.DataMembers(c.Members())))
	// The job coordinator sets its timer when it sees the join, a moment
	// after the members do: step the clock a second at a time until the
	// job has scaled up, and see how far it went. (Small steps: the
	// member's own requests time out on this clock too.)
	var last dag.JobInfo
	start := clock.Now()
	require.Eventually(t, func() bool {
		info := j.Info()
		last = info
		if info.Restarts > before.Restarts && info.Status == dag.Running && slices.Equal(slices.Sorted(slices.Values(info.Members)), want) {
			return true
		}
		clock.Advance(time.Second)
		return false
	}, 20*time.Second, 20*time.Millisecond, "the job did not scale up: %+v, want %v", &last, want)
	require.GreaterOrEqual(t, clock.Since(start), delay, "scaled up before the delay")
}
