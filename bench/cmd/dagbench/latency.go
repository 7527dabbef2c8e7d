package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Workload 5's query: Q5 with a short window sliding often, so results come
// many times a second.
const (
	latencySize  = time.Second
	latencySlide = 100 * time.Millisecond
	// latencyWarmup is left out at the start: results of windows ending
	// then are not recorded.
	latencyWarmup = time.Second
)

type latencyParams struct {
	Rate        int64 // bids per second, all source instances together
	Duration    time.Duration
	Size, Slide time.Duration
	Lag         time.Duration
	From, To    int64 // record the results of windows ending in [From, To] (unix ns)
	Run         string
}

func init() {
	dag.Register("dagbench.q5-latency", func(p latencyParams) (*dag.DAG, error) {
		pl := pipeline.New()
		bids := readBids(pl, pacedBids(p.Rate, p.Duration, p.Run), p.Lag, p.Slide)
		counts, top := q5(bids, p.Size, p.Slide)
		pipeline.WriteTo(counts, latencySink(p, "count-latency", func(r auctionCount) int64 { return r.End.UnixNano() }, true,
			func(l *latencies) *hdrhistogram.Histogram { return l.counts }))
		pipeline.WriteTo(top, latencySink(p, "top-latency", func(r windowTop) int64 { return r.End.UnixNano() }, false,
			func(l *latencies) *hdrhistogram.Histogram { return l.top }))
		return pl.Compile()
	})
}

// latencies is what one run of workload 5 records: every sink and source
// instance of the run reaches it through latencyRuns.
type latencies struct {
	mu     sync.Mutex // guards everything below
	counts *hdrhistogram.Histogram
	top    *hdrhistogram.Histogram
	// firstCount is when the first count of each window arrived, by
	// window end: how soon the engine reacts, apart from how long it then
	// takes to deliver all of a window's counts.
	firstCount map[int64]int64
	// emitted, elapsed and behind are the sources' sums and worst backlog.
	emitted int64
	elapsed time.Duration
	sources int
	behind  time.Duration
}

var latencyRuns sync.Map // run ID -> *latencies

func newLatencyHistogram() *hdrhistogram.Histogram {
	// 1µs to 60s at 3 significant digits.
	return hdrhistogram.New(1000, int64(60*time.Second), 3)
}

func latencyRun(run string) (*latencies, error) {
	l, ok := latencyRuns.Load(run)
	if !ok {
		return nil, fmt.Errorf("no latency run %q in this process", run)
	}
	return l.(*latencies), nil
}

// latencySink records, for every result of a window ending in [From, To],
// the time from the window's end to the result's arrival, and with first,
// when the first result of each window arrived.
func latencySink[T any](p latencyParams, name string, end func(T) int64, first bool, hist func(*latencies) *hdrhistogram.Histogram) pipeline.Sink[T] {
	return pipeline.NewSink(name, func(*dag.Context) (pipeline.SinkWriter[T], error) {
		l, err := latencyRun(p.Run)
		if err != nil {
			return nil, err
		}
		return &latencyWriter[T]{l: l, h: hist(l), end: end, first: first, from: p.From, to: p.To}, nil
	})
}

type latencyWriter[T any] struct {
	l        *latencies
	h        *hdrhistogram.Histogram
	end      func(T) int64
	first    bool
	from, to int64
}

func (w *latencyWriter[T]) Write(items []T) error {
	now := time.Now().UnixNano() // a batch arrives at once
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	for _, r := range items {
		e := w.end(r)
		if e < w.from || e > w.to {
			continue
		}
		_ = w.h.RecordValue(max(now-e, 0))
		if at, seen := w.l.firstCount[e]; w.first && (!seen || now < at) {
			w.l.firstCount[e] = now
		}
	}
	return nil
}

func (w *latencyWriter[T]) Close() error { return nil }

// pacedBids is a source emitting rate bids per second for d, stamped with
// the wall clock when they are read; each instance emits its share.
func pacedBids(rate int64, d time.Duration, run string) pipeline.Source[bid] {
	return pipeline.NewSource("bids", func(ctx *dag.Context) (pipeline.Reader[bid], error) {
		l, err := latencyRun(run)
		if err != nil {
			return nil, err
		}
		return &pacedReader{l: l, rate: float64(rate) / float64(ctx.TotalParallelism), d: d,
			next: int64(ctx.GlobalIndex), step: int64(ctx.TotalParallelism)}, nil
	})
}

type pacedReader struct {
	l          *latencies
	rate       float64 // this instance's bids per second
	d          time.Duration
	start      time.Time
	emitted    int64
	next, step int64 // bid indexes
	behind     time.Duration
	finished   bool
}

func (r *pacedReader) Read(buf []pipeline.SourceItem[bid], limit int) ([]pipeline.SourceItem[bid], bool, error) {
	now := time.Now()
	if r.start.IsZero() {
		r.start = now
	}
	elapsed := now.Sub(r.start)
	if elapsed >= r.d {
		r.finish(elapsed)
		return buf, true, nil
	}
	due := int64(elapsed.Seconds()*r.rate) - r.emitted
	if due <= 0 {
		return buf, false, nil
	}
	// Bids not emitted by now are late: how late the oldest is says whether
	// the source keeps up.
	r.behind = max(r.behind, time.Duration(float64(due)/r.rate*1e9))
	ts := now.UnixNano()
	for range min(due, int64(limit)) {
		buf = append(buf, pipeline.SourceItem[bid]{V: bidAt(r.next, ts)})
		r.next += r.step
		r.emitted++
	}
	return buf, false, nil
}

func (r *pacedReader) finish(elapsed time.Duration) {
	if r.finished {
		return
	}
	r.finished = true
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	r.l.emitted += r.emitted
	r.l.elapsed += elapsed
	r.l.sources++
	r.l.behind = max(r.l.behind, r.behind)
}

func (r *pacedReader) Partitions() int { return 1 }
func (r *pacedReader) Close() error    { return nil }

// latencyWorkload measures workload 5: Q5 on one member fed cfg.rate bids
// per second in wall-clock event time, and the time from each window's end
// to its results at the sinks.
func latencyWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("5. latency, one member, %dk bids/s for %v, Q5 with Sliding(%v, %v) then the top auction per window; latency = arrival at the sink - end of the result's window",
		cfg.rate/1000, cfg.duration, latencySize, latencySlide)}
	c, err := startCluster(ctx, "latency", 1)
	if err != nil {
		return []harness.Section{sec}, err
	}
	defer c.Stop()
	run := runID("latency", 0)
	l := &latencies{counts: newLatencyHistogram(), top: newLatencyHistogram(), firstCount: map[int64]int64{}}
	latencyRuns.Store(run, l)
	defer latencyRuns.Delete(run)
	t0 := time.Now()
	p := latencyParams{Rate: int64(cfg.rate), Duration: cfg.duration, Size: latencySize, Slide: latencySlide, Lag: q5Lag,
		From: t0.Add(latencyWarmup).UnixNano(), To: t0.Add(cfg.duration - 2*latencySlide).UnixNano(), Run: run}
	prof.During("latency", func() { _, err = runJob(ctx, c.Members[0], "dagbench.q5-latency", p) })
	l.mu.Lock()
	defer l.mu.Unlock()
	achieved := nan
	if l.sources > 0 {
		achieved = float64(l.emitted) / (l.elapsed.Seconds() / float64(l.sources))
	}
	sec.Rows = append(sec.Rows,
		harness.RatioRow("input: bids/s the sources emitted", achieved, nan, eventsUnit, harness.AbsAtLeast(0.99*float64(cfg.rate), eventsUnit), err),
		harness.RatioRow("input: largest source backlog", float64(l.behind), nan, latencyUnit, harness.NoTarget, err))
	first := newLatencyHistogram()
	for end, at := range l.firstCount {
		_ = first.RecordValue(max(at-end, 0))
	}
	for _, h := range []struct {
		what     string
		h        *hdrhistogram.Histogram
		target   bool
		quantile []float64
	}{
		{"per-auction counts", l.counts, true, []float64{50, 99, 99.9, 100}},
		{"first count of each window", first, false, []float64{50, 99, 100}},
		{"top auction", l.top, true, []float64{50, 99, 100}},
	} {
		for _, q := range h.quantile {
			v := nan
			if h.h.TotalCount() > 0 {
				v = float64(h.h.ValueAtQuantile(q))
			}
			name, t := fmt.Sprintf("%s: p%g", h.what, q), harness.NoTarget
			if q == 100 {
				name = h.what + ": max"
			}
			if q == 99 && h.target {
				t = harness.AbsBelow(float64(10*time.Millisecond), latencyUnit)
			}
			sec.Rows = append(sec.Rows, harness.RatioRow(name, v, nan, latencyUnit, t, err))
		}
	}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("results recorded: %d per-auction counts in %d windows, %d top auctions, of the windows ending from %v after submission to %v before the sources stop",
			l.counts.TotalCount(), first.TotalCount(), l.top.TotalCount(), latencyWarmup, 2*latencySlide),
		fmt.Sprintf("bids are stamped with the wall clock when read; event-time lag %v and watermarks throttled to the slide, so a window can close %v after its end at the earliest",
			q5Lag, q5Lag),
		fmt.Sprintf("the top auction of the sliding window ending at e comes from the tumbling window [e, e+%v), which closes when the watermark passes e+%v: measured from e, add %v",
			latencySlide, latencySlide, latencySlide),
		"the backlog is how late the oldest bid not yet emitted was, at the worst moment: the sources keep up if it stays far below the slide")
	return []harness.Section{sec}, err
}
