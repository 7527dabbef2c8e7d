package dag_test

import (
	"context"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

// The job of BenchmarkSnapshotUnderLoad: a rate-limited generator, a stage
// that costs some CPU per item, a running count per key.
type loadParams struct{ Rate int64 }

func init() {
	dag.Register("test.snapshot-load", func(p loadParams) (*dag.DAG, error) {
		pl := pipeline.New()
		seqs := pipeline.ReadFrom(pl, sources.Generator(p.Rate, func(seq int64) int64 { return seq }), pipeline.NoTimestamps[int64]())
		hashed := pipeline.Map(seqs, func(s int64) uint64 {
			h := fnv.New64a()
			b := []byte{byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24)}
			for range 200 {
				h.Write(b)
			}
			return h.Sum64()
		})
		counts := pipeline.RollingAggregate(pipeline.GroupBy(hashed, func(h uint64) uint64 { return h % 64 }), pipeline.Count[uint64]())
		pipeline.WriteTo(counts, pipeline.NewSink("discard", func(*dag.Context) (pipeline.SinkWriter[pipeline.KV[uint64, int64]], error) {
			return discardW[pipeline.KV[uint64, int64]]{}, nil
		}))
		return pl.Compile()
	})
}

type discardW[T any] struct{}

func (discardW[T]) Write([]T) error { return nil }
func (discardW[T]) Close() error    { return nil }

// BenchmarkSnapshotUnderLoad measures how long snapshots take when the
// input comes at half, once and twice the rate the job sustains on this
// machine (measured first, in the same run, with an unlimited source). At
// twice the rate the job is backpressured: its queues are full, and the
// barriers wait behind what they hold (bounded in time by debloat.go).
// It reports the median and the longest snapshot at each rate, and their
// ratio to the half-rate median. Run it with -benchtime=1x: each rate runs
// for a few seconds.
func BenchmarkSnapshotUnderLoad(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	m := c.Members()[0]
	ctx := context.Background()
	run := func(rate int64, d time.Duration) (throughput float64, took []time.Duration) {
		job, err := dag.Submit(ctx, m, "test.snapshot-load", loadParams{Rate: rate},
			dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(100*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = job.Cancel(ctx) }()
		time.Sleep(time.Second) // warm up: a benchmark, not a test
		in0, seen := mapItems(b, ctx, job), uint64(0)
		start := time.Now()
		for time.Since(start) < d {
			info, err := job.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if info.Snapshots > seen && info.LastSnapshotTook > 0 {
				if seen > 0 {
					took = append(took, info.LastSnapshotTook)
				}
				seen = info.Snapshots
			}
			time.Sleep(20 * time.Millisecond)
		}
		return float64(mapItems(b, ctx, job)-in0) / time.Since(start).Seconds(), took
	}
	for range b.N {
		sustained, _ := run(0, 3*time.Second)
		b.ReportMetric(sustained, "sustained-items/s")
		var ref time.Duration
		for _, f := range []struct {
			name string
			x    float64
		}{{"0.5x", 0.5}, {"1x", 1}, {"2x", 2}} {
			_, took := run(int64(sustained*f.x), 4*time.Second)
			if len(took) == 0 {
				b.Fatalf("no snapshot completed at %s the sustained rate", f.name)
			}
			slices.Sort(took)
			med, longest := took[len(took)/2], took[len(took)-1]
			if ref == 0 {
				ref = med
			}
			b.ReportMetric(float64(med.Microseconds())/1000, "snap-ms-median@"+f.name)
			b.ReportMetric(float64(longest.Microseconds())/1000, "snap-ms-max@"+f.name)
			b.ReportMetric(float64(med)/float64(ref), "median/0.5x@"+f.name)
		}
	}
}

// mapItems is the items the job's costly stage took so far.
func mapItems(b *testing.B, ctx context.Context, job *dag.Job) int64 {
	ms, err := job.Metrics(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, pm := range ms {
		if pm.Vertex == "map" {
			n += pm.ItemsIn
		}
	}
	return n
}
