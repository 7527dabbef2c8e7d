package dag_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/member"
)

// The work of the pipeline benchmark, shared by every variant.
var (
	benchGen    = func(n int64) int64 { return n }
	benchMap    = func(v int64) int64 { return v*3 + 1 }
	benchFilter = func(v int64) bool { return v%2 == 0 }
	benchCount  atomic.Int64
)

type pipeParams struct{ N int64 }

func init() {
	dag.Register("bench.pipeline", func(p pipeParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("generate", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) {
			return benchGen(n), n < p.N
		})).LocalParallelism(1)
		mp := d.AddVertex("map", dag.MapP(benchMap)).LocalParallelism(1)
		fl := d.AddVertex("filter", dag.FilterP(benchFilter)).LocalParallelism(1)
		sink := d.AddVertex("count", dag.SinkP(func(_ *dag.Context, items []int64) error {
			benchCount.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[int64](src, mp)
		dag.Between[int64](mp, fl)
		dag.Between[int64](fl, sink)
		return d, nil
	})
}

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
		benchCount.Store(0)
		start := time.Now()
		job, err := dag.Submit(ctx, m, "bench.pipeline", pipeParams{N: n})
		if err != nil {
			b.Fatal(err)
		}
		if err := job.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		weirD += time.Since(start)
		weirCount := benchCount.Load()

		start = time.Now()
		loopCount := loop(n)
		loopD += time.Since(start)

		start = time.Now()
		chanCount := channels(n)
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

//go:noinline
func loop(n int64) int64 {
	var count int64
	for i := range n {
		if v := benchMap(benchGen(i)); benchFilter(v) {
			count++
		}
	}
	return count
}

func channels(n int64) int64 {
	gen, mapped, filtered := make(chan int64, 1024), make(chan int64, 1024), make(chan int64, 1024)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			gen <- benchGen(i)
		}
		close(gen)
	}()
	go func() {
		defer wg.Done()
		for v := range gen {
			mapped <- benchMap(v)
		}
		close(mapped)
	}()
	go func() {
		defer wg.Done()
		for v := range mapped {
			if benchFilter(v) {
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

// BenchmarkPipelineOnly runs only weir's pipeline, for profiling.
func BenchmarkPipelineOnly(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	ctx := context.Background()
	const n = 20_000_000
	b.ResetTimer()
	for range b.N {
		job, err := dag.Submit(ctx, c.Members()[0], "bench.pipeline", pipeParams{N: n})
		if err != nil {
			b.Fatal(err)
		}
		if err := job.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

type edgeParams struct {
	N    int64
	Size int // item size in bytes; 0: int64 items
}

var edgeReceived atomic.Int64

func init() {
	dag.Register("bench.edge", func(p edgeParams) (*dag.DAG, error) {
		d := dag.New()
		payload := string(make([]byte, p.Size))
		// Only member 1 emits, and everything goes to instance 0 on member 0:
		// every item crosses the transport.
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (string, bool) {
			return payload, ctx.MemberIndex == 1 && n < p.N
		})).LocalParallelism(1)
		sink := d.AddVertex("sink", dag.SinkP(func(_ *dag.Context, items []string) error {
			edgeReceived.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[string](src, sink).Distributed().AllToOne()
		return d, nil
	})
}

// BenchmarkDistributedEdge moves items from one member to another over a
// distributed edge, and in the same run the same number of bytes over a
// plain loopback TCP connection, and reports both rates and the ratio.
func BenchmarkDistributedEdge(b *testing.B) {
	c := clustertest.Start(b, 2, member.Config{})
	ctx := context.Background()
	for _, size := range []int{8, 100, 1000} {
		b.Run(fmt.Sprintf("item=%dB", size), func(b *testing.B) {
			n := int64(400_000_000 / (size + 2))
			wire := int64(size + 2) // a msgpack str8/fixstr header
			var weirD, tcpD time.Duration
			for range b.N {
				edgeReceived.Store(0)
				start := time.Now()
				job, err := dag.Submit(ctx, c.Members()[0], "bench.edge", edgeParams{N: n, Size: size})
				if err != nil {
					b.Fatal(err)
				}
				if err := job.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				weirD += time.Since(start)
				if got := edgeReceived.Load(); got != n {
					b.Fatalf("received %d of %d", got, n)
				}
				tcpD += tcpCopy(b, n*wire)
			}
			items := float64(n) * float64(b.N)
			b.ReportMetric(items/weirD.Seconds(), "weir-items/s")
			b.ReportMetric(items*float64(wire)/weirD.Seconds()/1e6, "weir-MB/s")
			b.ReportMetric(items*float64(wire)/tcpD.Seconds()/1e6, "tcp-MB/s")
			b.ReportMetric(tcpD.Seconds()/weirD.Seconds(), "weir/tcp")
		})
	}
}

// tcpCopy sends total bytes over a loopback TCP connection and returns how
// long it took until the reader had them all.
func tcpCopy(b *testing.B, total int64) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(io.Discard, c, total)
		done <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := int64(0); sent < total; {
		k := min(int64(len(buf)), total-sent)
		if _, err := conn.Write(buf[:k]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
