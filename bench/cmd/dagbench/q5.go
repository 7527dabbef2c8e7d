package main

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// auctionCount is how many bids an auction got in one sliding window.
type auctionCount = pipeline.WindowResult[int64, int64]

// windowTop is the result of the second windowing: the hottest auction of
// the sliding window ending at Start (a one-element TopN list).
type windowTop = pipeline.WindowResult[struct{}, []auctionCount]

// q5 adds NEXMark Q5, "hot items", to a pipeline reading bids: the bids of
// every auction counted over sliding windows, then the auction with the
// most bids in each window.
//
// The second step groups the count results by the window they came from.
// It is a WindowAll over tumbling windows of one slide: a window result is
// stamped with its window's end e, a multiple of the slide, so the results
// of the sliding window ending at e, and only they, fall in the tumbling
// window [e, e+slide). None of them is late: the counting stage emits them
// before it forwards the watermark that closed their window. TopN(1) with a
// total order (most bids, then the lowest auction id, NEXMark's tie-break
// left to the implementation) picks one auction; Max would give the count
// without the auction. The cost of this choice is latency: the tumbling
// window closes one slide after the sliding one, when the watermark passes
// e+slide. A MapStateful keyed by window end, with a StateTTL whose
// eviction emits the top, would close at e, but it is wrong on a bounded
// stream: no watermark follows the last results, and MapStateful does not
// evict its states when its input completes, so the last windows would
// never be reported.
func q5(bids pipeline.Stage[bid], size, slide time.Duration) (counts pipeline.Stage[auctionCount], top pipeline.Stage[windowTop]) {
	byAuction := pipeline.Window(pipeline.GroupBy(bids, bidAuction), pipeline.Sliding(size, slide))
	counts = pipeline.AggregateWindow(byAuction, pipeline.Count[bid]())
	top = pipeline.AggregateWindow(pipeline.WindowAll(counts, pipeline.Tumbling(slide)), pipeline.TopN(1, hotter))
	return counts, top
}

// hotter orders auction counts: more bids first, then the lower auction id.
func hotter(a, b auctionCount) int {
	if c := cmp.Compare(a.Value, b.Value); c != 0 {
		return c
	}
	return cmp.Compare(b.Key, a.Key)
}

// readBids starts a pipeline from bids stamped with their DateTime. The
// watermark is throttled to the slide: windows close only at multiples of
// it, so a finer watermark closes nothing sooner and only splits batches.
func readBids(pl *pipeline.Pipeline, src pipeline.Source[bid], lag, slide time.Duration) pipeline.Stage[bid] {
	return pipeline.ReadFrom(pl, src, pipeline.EventTime(bidTime, lag).Throttle(slide))
}

// hotItem is one line of Q5's output: the top auction of the sliding
// window ending at End.
type hotItem struct {
	End     int64 // unix ns
	Auction int64
	Count   int64
}

func hotItemOf(r windowTop) hotItem {
	if len(r.Value) == 0 {
		return hotItem{End: r.Start.UnixNano(), Auction: -1}
	}
	top := r.Value[0]
	h := hotItem{End: top.End.UnixNano(), Auction: top.Key, Count: top.Value}
	if !top.End.Equal(r.Start) {
		h.Auction = -2 // a sliding window's result outside its tumbling window: the check fails
	}
	return h
}

// hotItems collects the output of Q5 runs, by run ID: every member of the
// cluster runs in this process, so every sink instance reaches it.
var hotItems = struct {
	sync.Mutex
	runs map[string][]hotItem
}{runs: map[string][]hotItem{}}

// hotItemSink adds Q5's results to hotItems under run.
func hotItemSink(run string) pipeline.Sink[windowTop] {
	return pipeline.NewSink("hot-items", func(*dag.Context) (pipeline.SinkWriter[windowTop], error) {
		return hotItemWriter{run: run}, nil
	})
}

type hotItemWriter struct{ run string }

func (w hotItemWriter) Write(items []windowTop) error {
	hotItems.Lock()
	defer hotItems.Unlock()
	for _, r := range items {
		hotItems.runs[w.run] = append(hotItems.runs[w.run], hotItemOf(r))
	}
	return nil
}

func (hotItemWriter) Close() error { return nil }

// takeHotItems removes and returns a run's results, in window order.
func takeHotItems(run string) []hotItem {
	hotItems.Lock()
	got := hotItems.runs[run]
	delete(hotItems.runs, run)
	hotItems.Unlock()
	slices.SortFunc(got, func(a, b hotItem) int { return cmp.Compare(a.End, b.End) })
	return got
}
