package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/member"
)

// The work of workloads 1 and 2, shared by weir and both references: they
// call the same functions, through the same function values.
var (
	pipeGen    = func(n int64) int64 { return n }
	pipeMap    = func(v int64) int64 { return v*3 + 1 }
	pipeFilter = func(v int64) bool { return v%2 == 0 }
	pipeCount  atomic.Int64
)

type pipelineParams struct{ N int64 }

func init() {
	// The DAG of dag/bench_test.go's BenchmarkPipeline: one instance per
	// vertex, local edges.
	dag.Register("dagbench.pipeline", func(p pipelineParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("generate", dag.GeneratorP(func(_ *dag.Context, n int64) (int64, bool) {
			return pipeGen(n), n < p.N
		})).LocalParallelism(1)
		mp := d.AddVertex("map", dag.MapP(pipeMap)).LocalParallelism(1)
		fl := d.AddVertex("filter", dag.FilterP(pipeFilter)).LocalParallelism(1)
		sink := d.AddVertex("count", dag.SinkP(func(_ *dag.Context, items []int64) error {
			pipeCount.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[int64](src, mp)
		dag.Between[int64](mp, fl)
		dag.Between[int64](fl, sink)
		return d, nil
	})
}

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
	want := pipelineLoop(cfg.items) // also warms the functions up
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
				pipeCount.Store(0)
				d, err := runJob(ctx, m, "dagbench.pipeline", pipelineParams{N: cfg.items})
				weir.add(n, d, err)
				if err == nil {
					count("weir", pipeCount.Load())
				}
			},
			func(int) {
				var got int64
				loop.add(n, reference(func() { got = pipelineLoop(cfg.items) }), nil)
				count("the loop", got)
			},
			func(int) {
				var got int64
				chans.add(n, reference(func() { got = pipelineChannels(cfg.items) }), nil)
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
		d, err := runJob(ctx, m, "dagbench.pipeline", pipelineParams{N: 0})
		if err != nil {
			return 0, err
		}
		best = min(best, d)
	}
	return best, nil
}

// pipelineLoop is the pipeline as a loop: the least any engine must do.
//
//go:noinline
func pipelineLoop(n int64) int64 {
	var count int64
	for i := range n {
		if v := pipeMap(pipeGen(i)); pipeFilter(v) {
			count++
		}
	}
	return count
}

// pipelineChannels is the pipeline as a goroutine per stage joined by
// buffered channels, the way Go code often streams.
func pipelineChannels(n int64) int64 {
	gen, mapped, filtered := make(chan int64, 1024), make(chan int64, 1024), make(chan int64, 1024)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			gen <- pipeGen(i)
		}
		close(gen)
	}()
	go func() {
		defer wg.Done()
		for v := range gen {
			mapped <- pipeMap(v)
		}
		close(mapped)
	}()
	go func() {
		defer wg.Done()
		for v := range mapped {
			if pipeFilter(v) {
				filtered <- v
			}
		}
		close(filtered)
	}()
	var count int64
	for range filtered {
		count++
	}
	wg.Wait()
	return count
}
