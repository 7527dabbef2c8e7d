package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
)

// Tests of the stages that take items: the accumulating stage of two-stage
// windows, and the one-stage windowP (early results), driven directly.

type tItem struct {
	Key string
	V   int64
}

// itemStream is items with times in disorder, some behind the watermark,
// cut in batches with a watermark after each (trailing the highest time
// by lag, as a source's).
type itemStream struct {
	batches [][]Timed[tItem]
	wms     []int64
}

func genItems(rng *rand.Rand, n int, lag int64) itemStream {
	var s itemStream
	high := int64(math.MinInt64)
	for i := 0; i < n; {
		var b []Timed[tItem]
		for range 1 + rng.IntN(20) {
			ts := int64(i)*2 - rng.Int64N(2*lag) // up to twice the lag: some are late
			if rng.IntN(50) == 0 {
				ts += 200 // a burst ahead
			}
			b = append(b, Timed[tItem]{TS: ts, V: tItem{Key: fmt.Sprintf("k%d", rng.IntN(6)), V: 1 + rng.Int64N(100)}})
			high = max(high, ts)
			i++
		}
		s.batches = append(s.batches, b)
		s.wms = append(s.wms, high-lag)
	}
	return s
}

// drive calls fn until it reports done, passing take the outputs after
// every call, as the engine would.
func drive(t *testing.T, fn func() (bool, error), take func()) {
	t.Helper()
	for calls := 0; ; calls++ {
		require.Less(t, calls, 1_000_000, "no progress")
		done, err := fn()
		require.NoError(t, err)
		take()
		if done {
			return
		}
	}
}

// process feeds a batch, calling Process until it took every item.
func process(t *testing.T, p dag.Processor, items []Timed[tItem], take func()) {
	t.Helper()
	in := testInbox(items)
	drive(t, func() (bool, error) { return in.Len() == 0, p.Process(0, in) }, take)
	require.Zero(t, in.Len())
}

func TestWindowAccumulatorMatchesReference(t *testing.T) {
	t.Parallel()
	const lag = 15
	sum := Sum(func(it tItem) int64 { return it.V })
	for _, w := range []WindowDef{Tumbling(10), Sliding(30, 10)} {
		for _, restore := range []bool{false, true} {
			t.Run(fmt.Sprintf("size=%d/restore=%v", w.size, restore), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(w.size), 2))
				for range 20 {
					s := genItems(rng, 600, lag)
					want, got := map[string]int64{}, map[string]int64{}
					var wantLate, gotLate []Timed[tItem]
					wm := dag.MinWatermark
					var p *frameAccumulator[tItem, string, int64, int64]
					var out *testOutput[frameAcc[string, int64]]
					var lateOut *testOutput[tItem]
					start := func() {
						p = &frameAccumulator[tItem, string, int64, int64]{key: func(it tItem) string { return it.Key }, op: sum, w: w, results: 1}
						out, lateOut = newTestOutput[frameAcc[string, int64]](2, 2), newTestOutput[tItem](1, 1)
						require.NoError(t, p.Init(testContext(out.o, lateOut.o)))
					}
					take := func() {
						for _, f := range out.take() {
							require.Equal(t, f.V.End-1, f.TS)
							require.LessOrEqual(t, f.V.End, wm, "a frame handed on before the watermark passed it")
							id := fmt.Sprintf("%s@%d", f.V.Key, f.V.End)
							require.NotContains(t, got, id, "a key's frame handed on twice")
							got[id] = f.V.Acc
						}
						gotLate = append(gotLate, lateOut.take()...)
					}
					start()
					at := rng.IntN(len(s.batches))
					for i, b := range s.batches {
						if restore && i == at {
							old := p
							start()
							require.True(t, old.flush(old.flushTo))
							require.NoError(t, old.snapshot(func(k string, frames map[int64]int64) error {
								kb, err := codec.For[string]().Encode(k)
								require.NoError(t, err)
								vb, err := keys.Encode(frames)
								require.NoError(t, err)
								return p.RestoreSnapshot(kb, vb)
							}))
							restoreLateMark(t, &old.late, p)
							require.NoError(t, p.FinishRestore())
							// The new run's first watermark is behind: lateness
							// is still judged by the one restored.
							if wm != dag.MinWatermark {
								drive(t, func() (bool, error) { return p.ProcessWatermark(wm - 3*lag) }, take)
							}
						}
						for _, it := range b {
							if it.TS < wm {
								wantLate = append(wantLate, it)
							} else {
								want[fmt.Sprintf("%s@%d", it.V.Key, frameEnd(it.TS, w.slide))] += it.V.V
							}
						}
						process(t, p, b, take)
						if s.wms[i] > wm {
							wm = s.wms[i]
							drive(t, func() (bool, error) { return p.ProcessWatermark(wm) }, take)
							for _, f := range p.frames.open {
								require.Greater(t, f.end, wm, "frame %d held after the watermark passed it", f.end)
							}
						}
					}
					wm = math.MaxInt64
					drive(t, p.Complete, take)
					require.Empty(t, p.frames.open)
					require.Equal(t, want, got)
					require.Equal(t, wantLate, gotLate)
					require.NotEmpty(t, wantLate)
				}
			})
		}
	}
}

// windowPHarness runs a windowP with early results over an item stream,
// checking final results as they come out, early ones against the windows
// open when they were computed, and late items.
type windowPHarness[A any] struct {
	t       *testing.T
	w       WindowDef
	op      AggregateOp[tItem, A, string]
	p       *windowP[tItem, string, A, string]
	out     *testOutput[WindowResult[string, string]]
	lateOut *testOutput[tItem]
	wm      int64
	items   []Timed[tItem] // on time so far
	late    []Timed[tItem] // late so far
	gotLate []Timed[tItem]
	counted int64 // late items counted by the instances a restore replaced
	final   map[string]string
	lastEnd map[string]int64
	early   map[string]string // what the last early results should hold
	gotEarl map[string]string
}

func (h *windowPHarness[A]) start() {
	h.p = &windowP[tItem, string, A, string]{key: func(it tItem) string { return it.Key }, op: h.op, w: h.w.EarlyResults(1), results: 1}
	h.out, h.lateOut = newTestOutput[WindowResult[string, string]](2, 2), newTestOutput[tItem](4, 4)
	require.NoError(h.t, h.p.Init(testContext(h.out.o, h.lateOut.o)))
}

func (h *windowPHarness[A]) take() {
	for _, r := range h.out.take() {
		end := r.V.End.UnixNano()
		require.Equal(h.t, end, r.TS)
		id := fmt.Sprintf("%s@%d", r.V.Key, end)
		if r.V.Early {
			require.NotContains(h.t, h.gotEarl, id)
			h.gotEarl[id] = r.V.Value
			continue
		}
		require.LessOrEqual(h.t, end, h.wm, "a window emitted before the watermark passed its end")
		if last, ok := h.lastEnd[r.V.Key]; ok {
			require.Greater(h.t, end, last, "key %s: windows out of order", r.V.Key)
		}
		h.lastEnd[r.V.Key] = end
		require.NotContains(h.t, h.final, id, "window emitted twice")
		h.final[id] = r.V.Value
	}
	h.gotLate = append(h.gotLate, h.lateOut.take()...)
}

// windows computes the windows of the items, those ending after done.
func (h *windowPHarness[A]) windows(items []Timed[tItem], done int64) map[string]string {
	type kw struct {
		key string
		end int64
	}
	accs := map[kw]A{}
	var order []kw
	for _, it := range items {
		fe := frameEnd(it.TS, h.w.slide)
		for e := fe; e < fe+h.w.size; e += h.w.slide {
			if e <= done {
				continue
			}
			id := kw{it.V.Key, e}
			a, ok := accs[id]
			if !ok {
				a = h.op.Create()
				order = append(order, id)
			}
			accs[id] = h.op.Accumulate(a, it.V)
		}
	}
	out := map[string]string{}
	for _, id := range order {
		out[fmt.Sprintf("%s@%d", id.key, id.end)] = h.op.Export(accs[id])
	}
	return out
}

func (h *windowPHarness[A]) tryEarly() {
	// What TryProcess does first, here so that the results of the previous
	// round are all out before the next.
	drive(h.t, func() (bool, error) { return h.p.emit.drain(), nil }, h.take)
	require.Equal(h.t, h.early, h.gotEarl)
	progress, err := h.p.TryProcess()
	require.NoError(h.t, err)
	require.True(h.t, progress)
	h.early, h.gotEarl = h.windows(h.items, h.wm), map[string]string{}
	h.take()
}

func (h *windowPHarness[A]) run(s itemStream, restoreAt int) {
	h.final, h.lastEnd, h.gotEarl, h.early = map[string]string{}, map[string]int64{}, map[string]string{}, map[string]string{}
	h.wm = dag.MinWatermark
	h.start()
	for i, b := range s.batches {
		if i == restoreAt {
			h.restore(true)
			// The new run's first watermark is behind: lateness is still
			// judged by the one restored.
			if h.wm != dag.MinWatermark {
				drive(h.t, func() (bool, error) { return h.p.ProcessWatermark(h.wm - 45) }, h.take)
			}
		}
		for _, it := range b {
			if it.TS >= h.wm {
				h.items = append(h.items, it)
			} else {
				h.late = append(h.late, it)
			}
		}
		process(h.t, h.p, b, h.take)
		h.tryEarly()
		if s.wms[i] > h.wm {
			h.wm = s.wms[i]
			drive(h.t, func() (bool, error) { return h.p.ProcessWatermark(h.wm) }, h.take)
			requireHeldOnlyOpen(h.t, &h.p.win)
		}
		h.tryEarly()
	}
	h.wm = math.MaxInt64
	drive(h.t, h.p.Complete, h.take)
	requireEmpty(h.t, &h.p.win)
	require.Equal(h.t, h.windows(h.items, dag.MinWatermark), h.final)
	h.requireLate()
}

// requireLate checks that the late items were delivered and counted.
func (h *windowPHarness[A]) requireLate() {
	require.Equal(h.t, h.late, h.gotLate)
	require.Equal(h.t, int64(len(h.late)), h.counted+h.p.late.count.Load())
}

// restore replaces the instance with one restored from its state, and from
// its watermark unless withMark is false (as from a snapshot taken before
// watermarks were saved).
func (h *windowPHarness[A]) restore(withMark bool) {
	old := h.p
	// As SaveSnapshot: emit what is pending first.
	drive(h.t, func() (bool, error) { return old.emit.drain() && old.win.finishClose(), nil }, h.take)
	type entry struct{ k, v []byte }
	var entries []entry
	require.NoError(h.t, old.win.snapshot(func(k string, frames map[int64]A, done int64) error {
		kb, err := codec.For[string]().Encode(k)
		require.NoError(h.t, err)
		vb, err := keys.Encode(windowState[A]{Frames: frames, Done: &done})
		require.NoError(h.t, err)
		entries = append(entries, entry{kb, vb})
		return nil
	}))
	h.counted += old.late.count.Load()
	h.start()
	if withMark {
		restoreLateMark(h.t, &old.late, h.p)
	}
	for _, e := range entries {
		require.NoError(h.t, h.p.RestoreSnapshot(e.k, e.v))
	}
	require.NoError(h.t, h.p.FinishRestore())
	// The early results of the old instance are lost with it.
	h.early, h.gotEarl = map[string]string{}, map[string]string{}
}

func TestWindowPMatchesReference(t *testing.T) {
	t.Parallel()
	sum := Sum(func(it tItem) int64 { return it.V })
	list := ToList[tItem]()
	for _, w := range []WindowDef{Tumbling(10), Sliding(30, 10)} {
		for _, restore := range []bool{false, true} {
			name := fmt.Sprintf("size=%d/restore=%v", w.size, restore)
			t.Run(name+"/deduct", func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(w.size), 3))
				for range 10 {
					s := genItems(rng, 400, 15)
					h := &windowPHarness[int64]{t: t, w: w, op: AggregateOp[tItem, int64, string]{
						Create: sum.Create, Accumulate: sum.Accumulate, Combine: sum.Combine, Deduct: sum.Deduct,
						Export: func(a int64) string { return fmt.Sprint(a) },
					}}
					at := -1
					if restore {
						at = rng.IntN(len(s.batches))
					}
					h.run(s, at)
				}
			})
			t.Run(name+"/no-deduct", func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(w.size), 4))
				for range 10 {
					s := genItems(rng, 400, 15)
					h := &windowPHarness[[]tItem]{t: t, w: w, op: AggregateOp[tItem, []tItem, string]{
						Create: list.Create, Accumulate: list.Accumulate, Combine: list.Combine,
						Export: func(a []tItem) string {
							vs := make([]int64, len(a))
							for i, it := range a {
								vs[i] = it.V
							}
							slices.Sort(vs)
							return fmt.Sprint(vs)
						},
					}}
					at := -1
					if restore {
						at = rng.IntN(len(s.batches))
					}
					h.run(s, at)
				}
			})
		}
	}
}

// TestWindowPItemBeforeRestoredWindow gives a restored windowP, before any
// watermark, items of windows it had emitted: restored with its watermark,
// it finds them late; restored from a snapshot without it (taken before
// watermarks were saved), it starts without one, so they are on time and
// count in the windows not emitted yet.
func TestWindowPItemBeforeRestoredWindow(t *testing.T) {
	t.Parallel()
	for _, deduct := range []bool{true, false} {
		for _, withMark := range []bool{true, false} {
			t.Run(fmt.Sprintf("deduct=%v/mark=%v", deduct, withMark), func(t *testing.T) {
				op := Sum(func(it tItem) int64 { return it.V })
				if !deduct {
					op.Deduct = nil
				}
				h := &windowPHarness[int64]{t: t, w: Sliding(30, 10), op: AggregateOp[tItem, int64, string]{
					Create: op.Create, Accumulate: op.Accumulate, Combine: op.Combine, Deduct: op.Deduct,
					Export: func(a int64) string { return fmt.Sprint(a) },
				}, final: map[string]string{}, lastEnd: map[string]int64{}, gotEarl: map[string]string{}}
				h.start()
				h.wm = 35
				process(t, h.p, []Timed[tItem]{{TS: 5, V: tItem{"k", 1}}, {TS: 15, V: tItem{"k", 2}}, {TS: 25, V: tItem{"k", 4}}, {TS: 36, V: tItem{"k", 8}}}, h.take)
				drive(t, func() (bool, error) { return h.p.ProcessWatermark(35) }, h.take)
				h.restore(withMark)
				behind := []Timed[tItem]{{TS: 16, V: tItem{"k", 16}}, {TS: 17, V: tItem{"k", 32}}, {TS: 1, V: tItem{"k", 64}}}
				process(t, h.p, behind, h.take)
				h.wm = math.MaxInt64
				drive(t, h.p.Complete, h.take)
				want := map[string]string{"k@10": "1", "k@20": "3", "k@30": "7"}
				if withMark {
					h.late = behind
					want["k@40"], want["k@50"], want["k@60"] = "14", "12", "8" // 2+4+8, 4+8, 8
				} else {
					// 2+16+32+4+8, 4+8, 8; the item at 1 is in no window left.
					want["k@40"], want["k@50"], want["k@60"] = "62", "12", "8"
				}
				require.Equal(t, want, h.final)
				h.requireLate()
			})
		}
	}
}
