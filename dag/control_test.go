package dag_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/snapshot"
)

// The tests of job control run the counting job of internal/testkit/testjobs
// (map journal -> count per key -> map, and -> two-phase-commit files)
// exactly-once, and check at the end that its output equals its input.

func exactlyOnce(extra ...dag.JobOption) []dag.JobOption {
	return append([]dag.JobOption{dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval)}, extra...)
}

func readCounts(t *testing.T, m *member.Member, name string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := testjobs.ReadOutput(ctx, m, name, t.TempDir())
	require.NoError(t, err)
	return got.Counts
}

// Suspend takes a final snapshot and stops every execution: the output
// stays put while input keeps coming. Resume continues from that snapshot.
func TestSuspendAndResume(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 2*time.Minute)
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(-1))...)
	before := j.Info()

	require.NoError(t, j.Job.Suspend(ctx))
	suspended := j.Info()
	require.Equal(t, dag.Suspended, suspended.Status)
	require.Greater(t, suspended.Snapshots, before.Snapshots, "suspending takes a final snapshot")
	metrics, err := j.Job.Metrics(ctx)
	require.NoError(t, err)
	require.Empty(t, metrics, "no processor runs while suspended")
	frozen := readCounts(t, ms[1], j.Params.Counts)
	fed := j.Feeder.Fed()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return j.Feeder.Fed() >= fed+200 }))
	require.Equal(t, frozen, readCounts(t, ms[1], j.Params.Counts), "a suspended job writes nothing")
	require.Error(t, j.Job.Suspend(ctx), "suspending a suspended job")

	require.NoError(t, j.Job.Resume(ctx))
	resumed := j.WaitRecovered(suspended, clustertest.DataMembers(ms))
	require.Equal(t, suspended.LastSnapshot, resumed.RestoredFrom, "resumed from the snapshot taken on suspending")
	require.Error(t, j.Job.Resume(ctx), "resuming a running job")
	require.Zero(t, j.Finish(true))
}

// Restart stops the job and starts it again from its last snapshot.
func TestRestartOnRequest(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	j := jobtest.StartCount(t, ms[1], exactlyOnce()...)
	before := j.Info()
	require.NoError(t, j.Job.Restart(ctxT(t, time.Minute)))
	j.WaitRecovered(before, clustertest.DataMembers(ms))
	require.Zero(t, j.Finish(true))
}

// A new version of a job starts from the snapshot the old one exported:
// suspend the old, export, cancel it, submit the new one from the export.
// Together they process every input exactly once.
func TestNewVersionStartsFromAnExportedSnapshot(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 2*time.Minute)
	j := jobtest.StartCount(t, ms[0], exactlyOnce()...)
	j.WaitSnapshots(8) // the export's id well above the new job's first ones
	require.NoError(t, j.Job.Suspend(ctx))
	require.NoError(t, j.Job.ExportSnapshot(ctx, "count-v1"))
	require.NoError(t, j.Job.Cancel(ctx))
	require.ErrorIs(t, j.Job.Wait(ctx), dag.ErrCancelled)
	dropped := func() bool {
		for slot := range 2 {
			n, err := grid.GetMap[string, []byte](ms[1], snapshot.SlotMap(j.Job.ID, slot)).Len(ctx)
			if err != nil || n > 0 {
				return false
			}
		}
		return true
	}
	require.True(t, clustertest.PollUntil(time.Minute, dropped), "a cancelled job's snapshots are deleted")

	v2 := j.Params
	v2.Also = "counts-v2"
	job, err := dag.Submit(ctx, ms[2], testjobs.Count, v2, exactlyOnce(dag.FromSnapshot("count-v1"))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(context.Background()) })
	j.Job = job
	info := j.Info()
	require.NotEqual(t, uint64(0), info.RestoredFrom, "the new job starts from the export")
	// Its snapshots commit its two-phase-commit files from the first: its
	// ids start at 1 again, below the export's (they used to be taken for
	// committed already, and nothing appeared until its ids passed it).
	lines := func() int {
		out, err := testjobs.ReadOutput(ctx, ms[0], v2.Counts, v2.Dir)
		require.NoError(t, err)
		n := 0
		for _, k := range out.Lines {
			n += k
		}
		return n
	}
	before := lines()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return lines() > before }), "the new job commits no files")
	require.Less(t, j.Info().Snapshots, info.RestoredFrom, "committed before its ids passed the export's")
	j.WaitSnapshots(2)
	require.Zero(t, j.Finish(true))
	// The new version's own sink has the counts too (every vehicle was
	// counted again since). Both map sinks commit with the same snapshot,
	// each on its members: one may be applied a moment after the other.
	var counts, also map[string]int64
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		counts, also = readCounts(t, ms[0], v2.Counts), readCounts(t, ms[0], v2.Also)
		return maps.Equal(counts, also)
	}), "the two sinks differ: %v against %v", counts, also)

	_, err = dag.Submit(ctx, ms[0], testjobs.Count, v2, exactlyOnce(dag.FromSnapshot("no-such-export"))...)
	require.Error(t, err, "starting from an export that does not exist")
	t.Logf("starting from a missing export: %v", err)
}

// A job asking for a processing guarantee must read replayable sources.
func TestGuaranteeNeedsReplayableSources(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	_, err := dag.Submit(ctxT(t, time.Minute), c.Members()[0], "test.unreplayable", struct{}{}, dag.WithGuarantee(dag.ExactlyOnce))
	require.ErrorIs(t, err, dag.ErrNotReplayable)
	require.Contains(t, err.Error(), `"once"`, "the error names the source")
	t.Log(err)
}

// A member that joins gets its share of a running job after the scale-up
// delay; the job restarts from a snapshot to take it in.
func TestJobScalesUpToAJoiningMember(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(200*time.Millisecond))...)
	before := j.Info()
	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	j.WaitRecovered(before, clustertest.DataMembers(c.Members()))
	require.Zero(t, j.Finish(true))
}

// A scale-up whose execution a member refuses to set up for a while (it
// awaits the coordinator's partition table, a transient state) tries
// again until it can. It used to leave the job restarting, with no
// execution, until the members changed again: after the heal in
// TestCoordinatorCutOffBySplit, the coordinator itself, back from a stall,
// awaited its table when its scale-up set the job up, and the job stayed
// restarting for a minute.
func TestScaleUpTriesAgainWhileAMemberAwaitsItsTable(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(200*time.Millisecond))...)
	before := j.Info()
	dag.RefuseSetups(ms[1], 2)
	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	info := j.WaitRecovered(before, clustertest.DataMembers(c.Members()))
	require.GreaterOrEqual(t, info.Execution, before.Execution+3, "the setups refused were not tried again")
	require.Zero(t, j.Finish(true))
}

// A member that leaves gracefully (Shutdown) is a cluster change like a
// crash: the job restarts on the others from its last snapshot, it does not
// fail.
func TestJobSurvivesAGracefulLeave(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(-1))...)
	before := j.Info()
	require.NoError(t, ms[2].Shutdown(ctxT(t, time.Minute)))
	c.WaitStable(2)
	j.WaitRecovered(before, clustertest.DataMembers(ms[:2]))
	require.Zero(t, j.Finish(true))
}

// With a minimum cluster size, a member cut off from the others stops its
// part of the job (it has no quorum); the majority restarts the job without
// it, and takes it back in once the network heals.
func TestJobRunsOnlyWhereTheQuorumIs(t *testing.T) {
	t.Parallel()
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	cfg.RejoinInterval = 300 * time.Millisecond
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	j := jobtest.StartCount(t, ms[0], exactlyOnce(dag.WithScaleUpDelay(200*time.Millisecond))...)

	before := j.Info()
	net.Split(ms[:2], ms[2:])
	split := j.WaitRecovered(before, clustertest.DataMembers(ms[:2]))
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !ms[2].HasQuorum() }), "the cut-off member still counts a quorum")
	err := grid.GetMap[string, int64](ms[2], j.Params.Counts).Put(ctxT(t, time.Minute), "truck-1", -1)
	require.ErrorIs(t, err, grid.ErrNoQuorum, "the cut-off member's sinks can write nothing either")

	net.Heal()
	c.WaitStable(3)
	j.WaitRecovered(split, clustertest.DataMembers(ms))
	require.Zero(t, j.Finish(true))
}

func init() {
	dag.Register("test.unreplayable", func(struct{}) (*dag.DAG, error) {
		p := pipeline.New()
		once := pipeline.NewSource("once", func(*dag.Context) (pipeline.Reader[int], error) { return &onceReader{}, nil })
		pipeline.WriteTo(pipeline.ReadFrom(p, once, pipeline.NoTimestamps[int]()), pipeline.NewSink("discard", func(*dag.Context) (pipeline.SinkWriter[int], error) { return discard{}, nil }))
		return p.Compile()
	})
}

// onceReader reads one item and cannot read it again.
type onceReader struct{ done bool }

func (r *onceReader) Read(buf []pipeline.SourceItem[int], _ int) ([]pipeline.SourceItem[int], bool, error) {
	if r.done {
		return buf, true, nil
	}
	r.done = true
	return append(buf, pipeline.SourceItem[int]{V: 1}), true, nil
}
func (*onceReader) Partitions() int { return 1 }
func (*onceReader) Close() error    { return nil }

type discard struct{}

func (discard) Write([]int) error { return nil }
func (discard) Close() error      { return nil }
