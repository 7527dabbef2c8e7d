package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/internal/testkit/benchref"
	"github.com/weir-dev/weir/member"
)

// pipelineWorkload measures workloads 1 and 2: the pipeline on one member,
// a plain loop and a goroutine-per-stage channel pipeline, in turn, each
// over the same items, and checks that all three counted the same.
func pipelineWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	loopSec := harness.Section{Title: fmt.Sprintf("1. one member, generate -> map -> filter -> count, %d int64 items per run, one instance per vertex; reference: a Go loop calling the same functions", cfg.items)}
	chanSec := harness.Section{Title: "2. the same pipeline; reference: a goroutine per stage, joined by channels (buffered 1024)"}
	c, err := startCluster(ctx, "pipeline", 1)
	if err != nil {
		return []harness.Section{loopSec}, err
	}
	defer c.Stop()
	m := c.Members[0]
	want := benchref.Loop(cfg.items) // also warms the functions up
	setup, err := emptyRun(ctx, m)
	if err != nil {
		return []harness.Section{loopSec}, err
	}
	var weir, loop, chans measured
	var mismatch error
	count := func(side string, got int64) {
		if got != want && mismatch == nil {
			mismatch = fmt.Errorf("%s counted %d items, the loop %d", side, got, want)
		}
	}
	n := float64(cfg.items)
	prof.During("pipeline", func() {
		alternate(cfg.rounds,
			func(int) {
				benchref.PipelineCount.Store(0)
				d, err := runJob(ctx, m, "benchref.pipeline", benchref.PipelineParams{N: cfg.items})
				weir.add(n, d, err)
				if err == nil {
					count("weir", benchref.PipelineCount.Load())
				}
			},
			func(int) {
				var got int64
				loop.add(n, reference(func() { got = benchref.Loop(cfg.items) }), nil)
				count("the loop", got)
			},
			func(int) {
				var got int64
				chans.add(n, reference(func() { got = benchref.Channels(cfg.items) }), nil)
				count("the channels", got)
			})
	})
	if weir.err == nil {
		weir.err = mismatch
	}
	loopSec.Rows = []harness.Row{harness.RatioRow("items/s", weir.perSec(), loop.perSec(), itemsUnit, harness.AtLeast(0.5), weir.err)}
	chanSec.Rows = []harness.Row{harness.RatioRow("items/s", weir.perSec(), chans.perSec(), itemsUnit, harness.AtLeast(3), weir.err)}
	note := fmt.Sprintf("%d alternating rounds; weir's time runs from Submit to the end of Wait (job set-up included); all three counted %d items passing the filter", cfg.rounds, want)
	loopSec.Notes = append(loopSec.Notes, note, fmt.Sprintf("a run of the same job over no items takes %v (submission, set-up on the member, completion)", setup.Round(10*time.Microsecond)))
	return []harness.Section{loopSec, chanSec}, weir.err
}

// emptyRun returns the shortest of a few runs of the pipeline job over no
// items: the fixed cost inside weir's measured time.
func emptyRun(ctx context.Context, m *member.Member) (time.Duration, error) {
	best := time.Duration(math.MaxInt64)
	for range 5 {
		d, err := runJob(ctx, m, "benchref.pipeline", benchref.PipelineParams{N: 0})
		if err != nil {
			return 0, err
		}
		best = min(best, d)
	}
	return best, nil
}
