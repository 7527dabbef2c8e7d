package dag_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// A snapshot's output is committed only once the job record names the
// snapshot. A coordinator that takes a job over restores the snapshot its
// record names and replays what followed: output committed for a snapshot
// the record missed would be written twice. Here the coordinator cannot
// write the record: it commits nothing, begins no snapshot over the slot
// of the one the record names, and the member that takes the job over
// once it leaves writes every line exactly once.
func TestSnapshotIsCommittedOnlyOnceRecorded(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	coord, other := ms[0], ms[1]
	require.True(t, coord.IsCoordinator())
	j := jobtest.StartCount(t, other, exactlyOnce(dag.WithScaleUpDelay(-1))...)
	before := j.Info()

	refused := errors.New("test: the job record write is refused")
	var mu sync.Mutex
	var tried []uint64 // the snapshot each refused write named
	failed := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(tried)
	}
	dag.FailRecordWrites(coord, func(snapshot uint64) error {
		mu.Lock()
		defer mu.Unlock()
		tried = append(tried, snapshot)
		return refused
	})
	t.Cleanup(func() { dag.FailRecordWrites(coord, nil) })
	lines := func() int {
		got, err := testjobs.ReadOutput(ctxT(t, 10*time.Second), other, j.Params.Counts, j.Params.Dir)
		require.NoError(t, err)
		return len(got.Lines)
	}
	// Snapshots go on every 100 ms; the first that completes cannot be
	// recorded, and the coordinator then tries again at every tick.
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return len(failed()) >= 2 }))
	committed := lines()
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return len(failed()) >= 6 }))
	require.Equal(t, committed, lines(), "output was committed for a snapshot the record does not name")
	ids := failed()
	require.Equal(t, slices.Min(ids), slices.Max(ids), "a snapshot began while the last one was not recorded: %v", ids)

	// The other member takes the job over from the record, which names the
	// snapshot before, and replays from there.
	require.NoError(t, coord.Shutdown(ctxT(t, time.Minute)))
	c.WaitStable(1)
	j.WaitRecovered(before, []string{other.ID()})
	require.Zero(t, j.Finish(true))
}
