// Package benchref holds the jobs that weir's DAG benchmarks run and the
// references they are measured against in the same run, so that dag's
// in-package benchmarks and the bench module's dagbench program measure
// the same code:
//
//   - the pipeline generate -> map -> filter -> count as a job on one
//     member (job "benchref.pipeline"), as a plain Go loop (Loop) and as a
//     goroutine per stage joined by channels (Channels);
//   - a distributed edge carrying strings from one member to another (job
//     "benchref.edge"), and a plain loopback TCP copy of the same bytes
//     (TCPCopy).
package benchref

import (
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/dag"
)

// The work of the pipeline, shared by the job and both references: they
// call the same functions, through the same function values.
var (
	Gen    = func(n int64) int64 { return n }
	Map    = func(v int64) int64 { return v*3 + 1 }
	Filter = func(v int64) bool { return v%2 == 0 }
)

// PipelineCount is what the pipeline job's sink counted: the items that
// passed the filter.
var PipelineCount atomic.Int64

// PipelineParams are the pipeline job's parameters: N items.
type PipelineParams struct{ N int64 }

func init() {
	// One instance per vertex, local edges.
	dag.Register("benchref.pipeline", func(p PipelineParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("generate", dag.GeneratorP(func(_ *dag.Context, n int64) (int64, bool) {
			return Gen(n), n < p.N
		})).LocalParallelism(1)
		mp := d.AddVertex("map", dag.MapP(Map)).LocalParallelism(1)
		fl := d.AddVertex("filter", dag.FilterP(Filter)).LocalParallelism(1)
		sink := d.AddVertex("count", dag.SinkP(func(_ *dag.Context, items []int64) error {
			PipelineCount.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[int64](src, mp)
		dag.Between[int64](mp, fl)
		dag.Between[int64](fl, sink)
		return d, nil
	})
}

// Loop is the pipeline as a loop over n items, the least any engine must
// do; it returns the count.
//
//go:noinline
func Loop(n int64) int64 {
	var count int64
	for i := range n {
		if v := Map(Gen(i)); Filter(v) {
			count++
		}
	}
	return count
}

// Channels is the pipeline as a goroutine per stage joined by channels
// buffered to 1024, the way Go code often streams; it returns the count.
func Channels(n int64) int64 {
	gen, mapped, filtered := make(chan int64, 1024), make(chan int64, 1024), make(chan int64, 1024)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			gen <- Gen(i)
		}
		close(gen)
	}()
	go func() {
		defer wg.Done()
		for v := range gen {
			mapped <- Map(v)
		}
		close(mapped)
	}()
	go func() {
		defer wg.Done()
		for v := range mapped {
			if Filter(v) {
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
