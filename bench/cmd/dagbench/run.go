package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/member"
)

// alternate calls every run once per round, in turn, so that load from
// outside the benchmark (this machine is shared) falls on weir and its
// reference alike rather than on whichever ran when it came. Each run
// starts from a collected heap, not amid the last one's garbage.
func alternate(rounds int, runs ...func(round int)) {
	for round := range rounds {
		for _, run := range runs {
			runtime.GC()
			run(round)
		}
	}
}

// runJob submits the registered job name and waits for its end; the
// duration covers the whole job, from submission to its completion on every
// member.
func runJob[P any](ctx context.Context, m *member.Member, name string, params P) (time.Duration, error) {
	d, _, err := runJobWith(ctx, m, name, params)
	return d, err
}

// runJobWith is runJob with job options, also returning the job, whose
// Info outlives it.
func runJobWith[P any](ctx context.Context, m *member.Member, name string, params P, opts ...dag.JobOption) (time.Duration, *dag.Job, error) {
	start := time.Now()
	job, err := dag.Submit(ctx, m, name, params, opts...)
	if err != nil {
		return 0, nil, err
	}
	if err := job.Wait(ctx); err != nil {
		return 0, job, err
	}
	return time.Since(start), job, nil
}

// reference runs f under the profiler label side=reference and times it.
func reference(f func()) time.Duration {
	var d time.Duration
	pprof.Do(context.Background(), pprof.Labels("side", "reference"), func(context.Context) {
		start := time.Now()
		f()
		d = time.Since(start)
	})
	return d
}

// measured adds up the work done and the time it took over rounds.
type measured struct {
	n       float64 // items, events or bytes
	elapsed time.Duration
	cpu     time.Duration // CPU time of the whole process meanwhile, if measured
	err     error         // the first error
}

func (m *measured) add(n float64, d time.Duration, err error) {
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	m.n += n
	m.elapsed += d
}

// addCPU adds the process's CPU time while f runs: what the run cost,
// whatever share of the machine other processes took meanwhile.
func (m *measured) addCPU(f func()) {
	before := cpuTime()
	f()
	m.cpu += cpuTime() - before
}

// perCPUSec is the work done per second of CPU time.
func (m measured) perCPUSec() float64 {
	if m.cpu <= 0 || m.err != nil {
		return nan
	}
	return m.n / m.cpu.Seconds()
}

func (m measured) perSec() float64 {
	if m.elapsed == 0 {
		return nan
	}
	return m.n / m.elapsed.Seconds()
}

// runID names one run's results in this process's collectors.
func runID(workload string, round int) string {
	return fmt.Sprintf("%s-%d-%d", workload, round, time.Now().UnixNano())
}
