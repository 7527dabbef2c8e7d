package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJobCPUPerReading measures the CPU time the job on 3 in-process
// members spends per reading (what bounds the rate a machine sustains:
// 2 cores give 2 s of CPU a second), against the plain computation of the
// same results in the same run.
//
//	go test -run '^$' -bench JobCPUPerReading -benchtime 1x ./examples/gogreen/
func BenchmarkJobCPUPerReading(b *testing.B) {
	c := clustertest.Start(b, 3, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	matcher, err := fleet.StartMatcher("127.0.0.1:0", 0)
	require.NoError(b, err)
	b.Cleanup(func() { _ = matcher.Close(); fleet.CloseClients() })
	cfg := fleet.DefaultConfig(100)
	cfg.Steps = 3 * 60 * fleet.StepsPerMinute // 04:00 to 07:00
	if testing.Short() {
		cfg.Steps = 90 * fleet.StepsPerMinute
	}
	readings := 0
	cfg.ForEach(func(fleet.Reading) { readings++ })
	b.ResetTimer()
	for range b.N {
		require.NoError(b, prepare(ctx, m, cfg))
		before := cpuTime()
		job, err := dag.Submit(ctx, m, JobName, Params{Fleet: cfg, MatchURL: matcher.URL, MonthlyLimitKg: 50_000},
			dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(2*time.Second))
		require.NoError(b, err)
		require.NoError(b, job.Wait(ctx))
		jobCPU := cpuTime() - before
		before = cpuTime()
		reference(cfg, m.PartitionCount(), cfg.ForEach)
		plainCPU := cpuTime() - before
		b.ReportMetric(float64(jobCPU.Microseconds())/float64(readings), "cpu-µs/reading")
		b.ReportMetric(float64(plainCPU.Microseconds())/float64(readings), "plain-cpu-µs/reading")
		b.ReportMetric(float64(jobCPU)/float64(plainCPU), "job/plain")
		b.ReportMetric(float64(readings), "readings")
	}
}
