package dag_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// The scale-up delay is counted on the coordinator's clock: a job moves
// onto a joining member once that clock has passed the delay, and not
// before; the test steps the clock instead of waiting.
func TestScaleUpDelayIsSteppedOnTheCoordinatorsClock(t *testing.T) {
	// Not parallel: it steps a fake clock against work done in real time.
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

// A snapshot some processor never acknowledges (the acknowledgements from
// one member are lost) is aborted at its timeout on the coordinator's
// clock, three snapshot intervals here; the job runs on and the next
// snapshot completes. The test steps the clock instead of waiting.
func TestUnacknowledgedSnapshotIsAbortedAtItsTimeout(t *testing.T) {
	// Not parallel: it steps a fake clock against work done in real time.
	const every, timeout, step = time.Minute, 3 * time.Minute, 10 * time.Second
	net := clustertest.NewNetwork()
	clock := clockwork.NewFakeClockAt(time.Now())
	cfg := clustertest.Config(t)
	cfg.Faults = net
	c := clustertest.Start(t, 0, cfg)
	coord := c.Add(func(cfg *member.Config) { cfg.Clock = clock })
	other := c.Add(func(*member.Config) {})
	c.WaitStable(2)

	params := testjobs.CountParams{Input: "readings", Counts: "counts", Dir: t.TempDir()}
	feeder := testjobs.Feed(coord, params.Input)
	t.Cleanup(func() { _, _ = feeder.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := dag.Submit(ctx, coord, testjobs.Count, params, dag.WithGuarantee(dag.AtLeastOnce), dag.WithSnapshotInterval(every), dag.WithScaleUpDelay(-1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(ctx) })
	info := func() dag.JobInfo {
		i, err := job.Info(ctx)
		require.NoError(t, err)
		return i
	}
	// snapshotsPast steps the clock every poll until the job completed
	// more than n snapshots.
	snapshotsPast := func(n uint64, poll time.Duration) {
		require.Eventually(t, func() bool {
			if info().Snapshots > n {
				return true
			}
			clock.Advance(step)
			return false
		}, time.Minute, poll, "no snapshot after %d", n)
	}
	// The first snapshot has the job's start to wait for as well: slower
	// steps leave it real time to finish before the clock reaches its
	// timeout (under the race detector a fast pace timed out every one).
	snapshotsPast(0, 50*time.Millisecond)

	lost := make(chan struct{}, 1)
	net.SetFrames(func(f member.Frame) member.Fault {
		if f.Route != "job.snapshot.ack" || f.From != other.TransportAddr() {
			return member.Fault{}
		}
		select {
		case lost <- struct{}{}:
		default:
		}
		return member.Fault{Drop: true}
	})
	done := info().Snapshots
	require.Eventually(t, func() bool {
		select {
		case <-lost:
			return true
		default:
			clock.Advance(step)
			return false
		}
	}, 20*time.Second, 5*time.Millisecond, "no acknowledgement was sent")
	net.SetFrames(nil)
	begun := clock.Now()
	snapshotsPast(done, 5*time.Millisecond)
	require.GreaterOrEqual(t, clock.Since(begun), timeout-step, "a snapshot completed before the one stuck timed out")
	require.Equal(t, dag.Running, info().Status)
}
