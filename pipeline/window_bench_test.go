package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/weir-dev/weir/dag"
)

// The stream of the window benchmarks, shaped like NEXMark Q5's bids:
// benchRate items per second of event time, in time order, each an
// auction id, 90% of them on the first tenth of benchKeys.
const (
	benchKeys = 10_000
	benchRate = 100_000
	benchLag  = int64(time.Millisecond)
	benchBase = int64(1_767_225_600_000_000_000) // 2026-01-01
	// benchBatch and benchQueue are the engine's default edge sizes.
	benchBatch = 1024
	benchQueue = 16
)

func benchItem(i int64) Timed[int64] {
	h := uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	key := int64(h>>16) % (benchKeys / 10)
	if h%100 >= 90 {
		key = benchKeys/10 + int64(h>>16)%(benchKeys-benchKeys/10)
	}
	return Timed[int64]{TS: benchBase + i*int64(time.Second)/benchRate, V: key}
}

// windowBench runs the two stages of a window aggregation as the engine
// would, on one goroutine: batches of items into the accumulating stage, a
// watermark each time event time crosses a slide (watermarks throttled to
// the slide, as in Q5), frames into the combining stage, windows out.
type windowBench[A, R any] struct {
	acc            *frameAccumulator[int64, int64, A, R]
	comb           *frameCombiner[int64, A, R]
	accOut         *testOutput[frameAcc[int64, A]]
	combOut        *testOutput[WindowResult[int64, R]]
	next, wm       int64
	throttle       int64
	results        int64
	accD, combD    time.Duration
	closeD, closeM time.Duration // total and longest combining-stage watermark
	closes         int
}

func newBenchCombiner[A, R any](w WindowDef, op AggregateOp[int64, A, R]) *frameCombiner[int64, A, R] {
	return &frameCombiner[int64, A, R]{w: w, combine: op.Combine, deduct: op.Deduct, export: op.Export}
}

func newWindowBench[A, R any](b *testing.B, w WindowDef, op AggregateOp[int64, A, R]) *windowBench[A, R] {
	wb := &windowBench[A, R]{
		acc:      &frameAccumulator[int64, int64, A, R]{key: func(v int64) int64 { return v }, op: op, w: w, results: 1},
		comb:     newBenchCombiner(w, op),
		accOut:   newTestOutput[frameAcc[int64, A]](benchBatch, benchQueue),
		combOut:  newTestOutput[WindowResult[int64, R]](benchBatch, benchQueue),
		wm:       dag.MinWatermark,
		throttle: w.slide,
	}
	if err := wb.acc.Init(testContext(wb.accOut.o)); err != nil {
		b.Fatal(err)
	}
	if err := wb.comb.Init(testContext(wb.combOut.o)); err != nil {
		b.Fatal(err)
	}
	return wb
}

// feed runs n more items through both stages.
func (wb *windowBench[A, R]) feed(b *testing.B, n int64) {
	batch := make([]Timed[int64], 0, benchBatch)
	for end := wb.next + n; wb.next < end; {
		batch = batch[:0]
		for len(batch) < cap(batch) && wb.next < end {
			it := benchItem(wb.next)
			// The source emits a watermark before the first item past it.
			if wm := it.TS - benchLag; wm-wm%wb.throttle > wb.wm && len(batch) > 0 {
				break
			}
			batch = append(batch, it)
			wb.next++
		}
		start := time.Now()
		in := testInbox(batch)
		if err := wb.acc.Process(0, in); err != nil || in.Len() > 0 {
			b.Fatalf("accumulate: %v, %d left", err, in.Len())
		}
		wb.accD += time.Since(start)
		if last := benchItem(wb.next).TS - benchLag; last-last%wb.throttle > wb.wm {
			wb.watermark(b, last-last%wb.throttle)
		}
	}
}

func (wb *windowBench[A, R]) watermark(b *testing.B, wm int64) {
	wb.wm = wm
	start := time.Now()
	for {
		done, err := wb.acc.ProcessWatermark(wm)
		if err != nil {
			b.Fatal(err)
		}
		wb.frames(b)
		if done {
			break
		}
	}
	wb.accD += time.Since(start)
	start = time.Now()
	for {
		done, err := wb.comb.ProcessWatermark(wm)
		if err != nil {
			b.Fatal(err)
		}
		wb.results += int64(wb.combOut.discard())
		if done {
			break
		}
	}
	d := time.Since(start)
	wb.combD += d
	wb.closeD += d
	wb.closeM = max(wb.closeM, d)
	wb.closes++
}

// frames moves the accumulating stage's output into the combining stage.
func (wb *windowBench[A, R]) frames(b *testing.B) {
	start := time.Now()
	if fs := wb.accOut.take(); len(fs) > 0 {
		in := testInbox(fs)
		if err := wb.comb.Process(0, in); err != nil {
			b.Fatal(err)
		}
	}
	wb.combD += time.Since(start)
}

func (wb *windowBench[A, R]) reset() {
	wb.accD, wb.combD, wb.closeD, wb.closeM, wb.closes, wb.results = 0, 0, 0, 0, 0, 0
}

func benchWindow[A, R any](b *testing.B, w WindowDef, op AggregateOp[int64, A, R]) {
	wb := newWindowBench(b, w, op)
	// Warm up: fill the windows, so that the measured part is steady.
	wb.feed(b, (w.size/int64(time.Second)+1)*benchRate)
	wb.reset()
	b.ResetTimer()
	wb.feed(b, int64(b.N))
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(wb.accD.Nanoseconds())/n, "acc-ns/item")
	b.ReportMetric(float64(wb.combD.Nanoseconds())/n, "comb-ns/item")
	if wb.closes > 0 {
		b.ReportMetric(float64(wb.closeD.Microseconds())/float64(wb.closes)/1000, "close-ms")
		b.ReportMetric(float64(wb.closeM.Microseconds())/1000, "max-close-ms")
		b.ReportMetric(float64(wb.results)/float64(wb.closes), "results/close")
	}
}

// BenchmarkSlidingWindow is the counting step of Q5 without the engine:
// 10k keys, Sliding(10s, 1s), items in event-time order, 100k items per
// second of event time, watermarks every second. ns/op is per item; close-ms
// is the combining stage's time per watermark, results included.
func BenchmarkSlidingWindow(b *testing.B) {
	w := Sliding(10*time.Second, time.Second)
	b.Run("count", func(b *testing.B) { benchWindow(b, w, Count[int64]()) })
	// Max has no Deduct: each window is combined from its frames.
	b.Run("max", func(b *testing.B) { benchWindow(b, w, Max(func(v int64) int64 { return v })) })
}

// BenchmarkTumblingWindow is BenchmarkSlidingWindow over Tumbling(1s).
func BenchmarkTumblingWindow(b *testing.B) {
	benchWindow(b, Tumbling(time.Second), Count[int64]())
}

// BenchmarkWindowClose measures the combining stage alone: one watermark
// closing one window of 10k keys with frames of 10k keys each.
func BenchmarkWindowClose(b *testing.B) {
	for _, size := range []time.Duration{time.Second, 10 * time.Second} {
		b.Run(fmt.Sprintf("size=%v", size), func(b *testing.B) {
			w := Sliding(size, time.Second)
			op := Count[int64]()
			comb := newBenchCombiner(w, op)
			out := newTestOutput[WindowResult[int64, int64]](benchBatch, 64)
			if err := comb.Init(testContext(out.o)); err != nil {
				b.Fatal(err)
			}
			frame := make([]Timed[frameAcc[int64, int64]], benchKeys)
			end := benchBase
			feed := func() {
				end += int64(time.Second)
				for k := range frame {
					frame[k] = Timed[frameAcc[int64, int64]]{TS: end - 1, V: frameAcc[int64, int64]{Key: int64(k), End: end, Acc: 10}}
				}
				if err := comb.Process(0, testInbox(frame)); err != nil {
					b.Fatal(err)
				}
			}
			for range size / time.Second {
				feed()
			}
			for ok := false; !ok; out.discard() {
				ok, _ = comb.ProcessWatermark(end)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				feed()
				b.StartTimer()
				if ok, _ := comb.ProcessWatermark(end); !ok {
					b.Fatal("blocked")
				}
				b.StopTimer()
				if n := out.discard(); n != benchKeys {
					b.Fatalf("%d results", n)
				}
				b.StartTimer()
			}
		})
	}
}
