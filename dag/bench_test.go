package dag_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/benchref"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// BenchmarkPipeline runs generate -> map -> filter -> count on one member
// (one instance per vertex), and in the same run a plain Go loop calling the
// same functions and a goroutine-per-stage pipeline joined by channels, and
// reports items/s and the ratios.
func BenchmarkPipeline(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	m := c.Members()[0]
	const n = 20_000_000
	ctx := context.Background()
	var weirD, loopD, chanD time.Duration
	for range b.N {
		benchref.PipelineCount.Store(0)
		start := time.Now()
		job, err := dag.Submit(ctx, m, "benchref.pipeline", benchref.PipelineParams{N: n})
		if err != nil {
			b.Fatal(err)
		}
		if err := job.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		weirD += time.Since(start)
		weirCount := benchref.PipelineCount.Load()

		start = time.Now()
		loopCount := benchref.Loop(n)
		loopD += time.Since(start)

		start = time.Now()
		chanCount := benchref.Channels(n)
		chanD += time.Since(start)
		if weirCount != loopCount || chanCount != loopCount {
			b.Fatalf("counts differ: weir %d, loop %d, channels %d", weirCount, loopCount, chanCount)
		}
	}
	items := float64(n) * float64(b.N)
	b.ReportMetric(items/weirD.Seconds(), "weir-items/s")
	b.ReportMetric(items/loopD.Seconds(), "loop-items/s")
	b.ReportMetric(items/chanD.Seconds(), "chan-items/s")
	b.ReportMetric(loopD.Seconds()/weirD.Seconds(), "weir/loop")
	b.ReportMetric(chanD.Seconds()/weirD.Seconds(), "weir/chan")
}

// BenchmarkPipelineOnly runs only weir's pipeline, for profiling.
func BenchmarkPipelineOnly(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	ctx := context.Background()
	const n = 20_000_000
	b.ResetTimer()
	for range b.N {
		job, err := dag.Submit(ctx, c.Members()[0], "benchref.pipeline", benchref.PipelineParams{N: n})
		if err != nil {
			b.Fatal(err)
		}
		if err := job.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkDistributedEdge moves items from one member to another over a
// distributed edge, and in the same run the same number of bytes over a
// plain loopback TCP connection, and reports both rates and the ratio:
// 8-byte int64s (9 bytes encoded), strings of each size, and 8-byte strings
// on an edge that reuses memory (Edge.ReuseMemory).
func BenchmarkDistributedEdge(b *testing.B) {
	c := clustertest.Start(b, 2, member.Config{})
	b.Run("item=int64", func(b *testing.B) { benchEdge(b, c.Members()[0], benchref.EdgeParams{Ints: true}) })
	for _, size := range []int{8, 100, 1000} {
		b.Run(fmt.Sprintf("item=%dB", size), func(b *testing.B) { benchEdge(b, c.Members()[0], benchref.EdgeParams{Size: size}) })
	}
	b.Run("item=8B/reuse", func(b *testing.B) { benchEdge(b, c.Members()[0], benchref.EdgeParams{Size: 8, Reuse: true}) })
}

func benchEdge(b *testing.B, m *member.Member, p benchref.EdgeParams) {
	ctx := context.Background()
	wire := p.Encoded()
	p.N = 400_000_000 / wire
	var weirD, tcpD time.Duration
	for range b.N {
		benchref.EdgeReceived.Store(0)
		start := time.Now()
		job, err := dag.Submit(ctx, m, "benchref.edge", p)
		if err != nil {
			b.Fatal(err)
		}
		if err := job.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		weirD += time.Since(start)
		if got := benchref.EdgeReceived.Load(); got != p.N {
			b.Fatalf("received %d of %d", got, p.N)
		}
		d, err := benchref.TCPCopy(p.N * wire)
		if err != nil {
			b.Fatal(err)
		}
		tcpD += d
	}
	items := float64(p.N) * float64(b.N)
	b.ReportMetric(items/weirD.Seconds(), "weir-items/s")
	b.ReportMetric(items*float64(wire)/weirD.Seconds()/1e6, "weir-MB/s")
	b.ReportMetric(items*float64(wire)/tcpD.Seconds()/1e6, "tcp-MB/s")
	b.ReportMetric(tcpD.Seconds()/weirD.Seconds(), "weir/tcp")
}
