package chaos_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
)

// BenchmarkRecoveryAfterKill measures how long the counting job takes, from
// the SIGKILL of a member process to output that again reflects new input:
// the counts in the map include a reading fed after the kill. That spans
// noticing the loss, restarting on the survivors, restoring the last
// snapshot (taken every second, as a production job would), replaying the
// input since, and processing new input. Iterations alternate between
// killing a member that does not coordinate and killing the coordinator
// (while a process coordinates: once the processes that started first are
// gone, the lite member is the oldest); a new process replaces each victim,
// outside the timed part.
//
//	go test -run '^$' -bench RecoveryAfterKill -benchtime 6x ./internal/testkit/chaos/
func BenchmarkRecoveryAfterKill(b *testing.B) {
	c := startCluster(b, 3)
	j := startCountJob(b, c, dag.ExactlyOnce, time.Second)
	counts := grid.GetMap[string, int64](c.obs, j.Params.Counts)
	var other, coord []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		before := j.Info()
		victim, killCoord := c.other(), false
		if p, ok := c.coordinatorProc(); ok && i%2 == 1 {
			victim, killCoord = p, true
		}
		fed := int64(j.Feeder.Fed())
		b.StartTimer()
		start := time.Now()
		c.kill(victim)
		ok := pollUntil(time.Minute, func() bool { return countedTotal(b, counts) > fed+1 })
		took := time.Since(start)
		b.StopTimer()
		require.True(b, ok, "no new output within a minute of the kill")
		if killCoord {
			coord = append(coord, took)
		} else {
			other = append(other, took)
		}
		c.replace()
		j.WaitRecovered(before, c.live())
		b.StartTimer()
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Milliseconds()), name+"-median-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Milliseconds()), name+"-max-ms")
		b.Logf("%s: %v", name, ds)
	}
	report("other", other)
	report("coordinator", coord)
	j.Finish(true)
}

// countedTotal is the sum of the counts the job wrote.
func countedTotal(tb testing.TB, counts *grid.Map[string, int64]) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names := make([]string, testjobs.Vehicles)
	for i := range names {
		names[i] = testjobs.VehicleName(i)
	}
	got, err := counts.GetAll(ctx, names)
	if err != nil {
		tb.Logf("reading counts: %v", err)
		return 0
	}
	var sum int64
	for _, n := range got {
		sum += n
	}
	return sum
}
