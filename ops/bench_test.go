package ops_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/ops"
)

// scrapeEvery is how often the "on" side of the cost benchmarks scrapes:
// 15 times as often as Prometheus's default of 15s.
const scrapeEvery = time.Second

// scraper scrapes url at once, then every scrapeEvery until stopped; it
// reports the scrapes it made.
func scraper(url string) (stop func() int) {
	done := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for first := true; ; first = false {
			if !first {
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
			{
				if resp, err := http.Get(url); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					n.Add(1)
				}
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return int(n.Load()) }
}

// Map operations with metrics on (operations counted and sampled, the
// endpoint scraped every second) against off (grid.EnableStats false, no
// scrapes), in alternating slices on one member: each iteration is one
// slice of each. GOMAXPROCS goroutines do 90% Get, 10% Put on 10,000 keys
// of 100 bytes. The ratio on/off is reported as "on/off".
func BenchmarkMetricsCostGrid(b *testing.B) {
	ctx := context.Background()
	cfg := clustertest.Config(b)
	cfg.HTTPAddr = "127.0.0.1:0"
	m, err := weir.Start(ctx, cfg)
	require.NoError(b, err)
	defer func() { _ = m.Shutdown(ctx) }()
	mp := grid.GetMap[string, []byte](m, "bench")
	const keys = 10_000
	val := make([]byte, 100)
	for i := range keys {
		require.NoError(b, mp.Put(ctx, fmt.Sprintf("key-%06d", i), val))
	}
	slice := time.Second
	run := func(on bool) (int64, time.Duration) {
		cpu0 := processCPU()
		grid.EnableStats(m, on)
		stop := func() int { return 0 }
		if on {
			stop = scraper("http://" + ops.Addr(m) + "/metrics")
		}
		defer stop()
		var total atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(slice)
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := int64(0)
				for ; n%256 != 0 || time.Now().Before(deadline); n++ {
					k := fmt.Sprintf("key-%06d", rand.IntN(keys))
					if n%10 == 0 {
						_ = mp.Put(ctx, k, val)
					} else {
						_, _, _ = mp.Get(ctx, k)
					}
				}
				total.Add(n)
			}()
		}
		wg.Wait()
		return total.Load(), processCPU() - cpu0
	}
	var on, off int64
	var onCPU, offCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			if (i+j)%2 == 0 {
				n, c := run(false)
				off, offCPU = off+n, offCPU+c
			} else {
				n, c := run(true)
				on, onCPU = on+n, onCPU+c
			}
		}
	}
	d := slice.Seconds() * float64(b.N)
	b.ReportMetric(float64(on)/d, "ops/s-on")
	b.ReportMetric(float64(off)/d, "ops/s-off")
	b.ReportMetric(float64(on)/float64(off), "on/off")
	reportPerCPU(b, float64(on), onCPU, float64(off), offCPU)
}

// reportPerCPU reports work per CPU-second of the process, on against off:
// unlike work per second, it does not fall when other processes take the
// cores (the machine this was written on ran many at once).
func reportPerCPU(b *testing.B, on float64, onCPU time.Duration, off float64, offCPU time.Duration) {
	b.ReportMetric(on/onCPU.Seconds(), "per-cpu-s-on")
	b.ReportMetric(off/offCPU.Seconds(), "per-cpu-s-off")
	b.ReportMetric((on/onCPU.Seconds())/(off/offCPU.Seconds()), "on/off-per-cpu")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A scrape of a member holding 100 maps (with entries and operations)
// and running 10 jobs; the issue asks for under 50ms.
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	cfg := clustertest.Config(b)
	cfg.HTTPAddr = "127.0.0.1:0"
	m, err := weir.Start(ctx, cfg)
	require.NoError(b, err)
	defer func() { _ = m.Shutdown(ctx) }()
	for j := range 10 {
		in := fmt.Sprintf("in-%d", j)
		require.NoError(b, grid.GetMap[string, testjobs.Reading](m, in, grid.WithJournal(1024)).Put(ctx, "r", testjobs.Reading{Vehicle: "v", Seq: 1}))
		job, err := dag.Submit(ctx, m, testjobs.Count, testjobs.CountParams{Input: in, Counts: fmt.Sprintf("counts-%d", j)})
		require.NoError(b, err)
		defer func() { _ = job.Cancel(ctx) }()
	}
	for i := range 80 {
		mp := grid.GetMap[int, int](m, fmt.Sprintf("map-%02d", i), grid.WithNearCache(grid.NearCacheConfig{}))
		for k := range 50 {
			require.NoError(b, mp.Put(ctx, k, k))
			_, _, _ = mp.Get(ctx, k)
		}
	}
	url := "http://" + ops.Addr(m) + "/metrics"
	var size int64
	scrape := func() {
		resp, err := http.Get(url)
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(b, err)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
		size = n
	}
	require.Eventually(b, func() bool {
		n := 0
		for _, js := range dag.LocalStats(m) {
			if len(js.Vertices) > 0 {
				n++
			}
		}
		return n == 10
	}, time.Minute, 10*time.Millisecond)
	scrape()
	b.ResetTimer()
	for b.Loop() {
		scrape()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
	b.ReportMetric(float64(size), "bytes/scrape")
}
