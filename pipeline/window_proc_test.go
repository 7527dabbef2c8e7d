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

// Tests of the windowing processors driven directly, without an engine:
// frames and watermarks in, results out through queues so short that the
// processors are often told "full" and must resume where they stopped.

// frameIn is one partial aggregate the combining stage receives.
type frameIn[A any] struct {
	key string
	end int64
	acc A
}

// combStream is a random input of the combining stage: frames of keys that
// appear in some frames only, some frames with no key at all, a key's frame
// sometimes in two parts (two accumulating instances), delivered in any
// order before the watermark passes them, and watermarks that advance by
// uneven steps, sometimes across several windows at once.
type combStream struct {
	steps []combStep
}

type combStep struct {
	frames []frameIn[int64]
	wm     int64
}

func genCombStream(rng *rand.Rand, slide int64, frames int) combStream {
	var all []frameIn[int64]
	for f := 1; f <= frames; f++ {
		if rng.IntN(5) == 0 {
			continue // a frame with no items
		}
		if rng.IntN(12) == 0 {
			f += 3 + rng.IntN(6) // a gap of several windows
		}
		for k := range 8 {
			if rng.IntN(5) < 2 {
				continue
			}
			for range 1 + rng.IntN(2) {
				all = append(all, frameIn[int64]{key: fmt.Sprintf("k%d", k), end: int64(f) * slide, acc: 1 + rng.Int64N(100)})
			}
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var s combStream
	lag := 2 * slide
	for wm := int64(0); len(all) > 0; {
		wm += rng.Int64N(3*slide) + 1
		if rng.IntN(8) == 0 {
			wm += 4 * slide
		}
		var step combStep
		kept := all[:0]
		for _, f := range all {
			// Due before the watermark passes the frame; early within the lag.
			if f.end <= wm || (f.end <= wm+lag && rng.IntN(2) == 0) {
				step.frames = append(step.frames, f)
			} else {
				kept = append(kept, f)
			}
		}
		all = kept
		step.wm = wm
		s.steps = append(s.steps, step)
	}
	return s
}

// combOp is an operation on the int64 values of frames, as the combining
// stage sees it, and the reference value of a window.
type combOp[A any] struct {
	name    string
	of      func(int64) A
	combine func(a, b A) A
	deduct  func(a, b A) A
	export  func(A) string
}

var (
	sumOp = combOp[int64]{
		name:    "sum",
		of:      func(v int64) int64 { return v },
		combine: func(a, b int64) int64 { return a + b },
		deduct:  func(a, b int64) int64 { return a - b },
		export:  func(a int64) string { return fmt.Sprint(a) },
	}
	// listOp has no Deduct: windows are combined from their frames.
	listOp = combOp[[]int64]{
		name:    "list",
		of:      func(v int64) []int64 { return []int64{v} },
		combine: func(a, b []int64) []int64 { return append(slices.Clone(a), b...) },
		export: func(a []int64) string {
			return fmt.Sprint(slices.Sorted(slices.Values(a)))
		},
	}
)

// referenceWindows computes every window of every key from all frames.
func referenceWindows(frames []frameIn[int64], w WindowDef, value func([]int64) string) map[string]string {
	type kw struct {
		key string
		end int64
	}
	vals := map[kw][]int64{}
	for _, f := range frames {
		for e := f.end; e < f.end+w.size; e += w.slide {
			vals[kw{f.key, e}] = append(vals[kw{f.key, e}], f.acc)
		}
	}
	out := map[string]string{}
	for k, vs := range vals {
		out[fmt.Sprintf("%s@%d", k.key, k.end)] = value(vs)
	}
	return out
}

// combHarness runs frameCombiners over a stream, checking each result as it
// comes out.
type combHarness[A any] struct {
	t   *testing.T
	w   WindowDef
	op  combOp[A]
	got map[string]string
	// lastEnd is each key's last window emitted: they come in order.
	lastEnd map[string]int64
}

func (h *combHarness[A]) newCombiner() (*frameCombiner[string, A, string], *testOutput[WindowResult[string, string]]) {
	p := &frameCombiner[string, A, string]{w: h.w, combine: h.op.combine, deduct: h.op.deduct, export: h.op.export}
	out := newTestOutput[WindowResult[string, string]](2, 2)
	require.NoError(h.t, p.Init(testContext(out.o)))
	return p, out
}

func (h *combHarness[A]) feed(p *frameCombiner[string, A, string], frames []frameIn[int64]) {
	items := make([]Timed[frameAcc[string, A]], len(frames))
	for i, f := range frames {
		items[i] = Timed[frameAcc[string, A]]{TS: f.end - 1, V: frameAcc[string, A]{Key: f.key, End: f.end, Acc: h.op.of(f.acc)}}
	}
	in := testInbox(items)
	require.NoError(h.t, p.Process(0, in))
	require.Zero(h.t, in.Len())
}

// watermark calls fn until it reports done, taking the output after every
// call, as the engine would.
func (h *combHarness[A]) watermark(out *testOutput[WindowResult[string, string]], wm int64, fn func() (bool, error)) {
	for calls := 0; ; calls++ {
		require.Less(h.t, calls, 1_000_000, "no progress")
		done, err := fn()
		require.NoError(h.t, err)
		for _, r := range out.take() {
			end := r.V.End.UnixNano()
			require.Equal(h.t, end, r.TS)
			require.Equal(h.t, end-h.w.size, r.V.Start.UnixNano())
			require.LessOrEqual(h.t, end, wm, "a window emitted before the watermark passed its end")
			if last, ok := h.lastEnd[r.V.Key]; ok {
				require.Greater(h.t, end, last, "key %s: windows out of order", r.V.Key)
			}
			h.lastEnd[r.V.Key] = end
			id := fmt.Sprintf("%s@%d", r.V.Key, end)
			require.NotContains(h.t, h.got, id, "window emitted twice")
			h.got[id] = r.V.Value
		}
		if done {
			return
		}
	}
}

// restoreInto saves the state of the combiners and restores it into n new
// ones, each key going to instance keyInstance(key, n).
func (h *combHarness[A]) restoreInto(from []*frameCombiner[string, A, string], n int) ([]*frameCombiner[string, A, string], []*testOutput[WindowResult[string, string]]) {
	type entry struct{ k, v []byte }
	var entries []entry
	for _, p := range from {
		require.True(h.t, p.win.finishClose())
		require.NoError(h.t, p.win.snapshot(func(k string, frames map[int64]A, done int64) error {
			kb, err := codec.For[string]().Encode(k)
			require.NoError(h.t, err)
			vb, err := keys.Encode(combinerState[A]{Frames: frames, Done: done})
			require.NoError(h.t, err)
			entries = append(entries, entry{kb, vb})
			return nil
		}))
	}
	ps := make([]*frameCombiner[string, A, string], n)
	outs := make([]*testOutput[WindowResult[string, string]], n)
	for i := range ps {
		ps[i], outs[i] = h.newCombiner()
	}
	for _, e := range entries {
		k, _, err := dag.LoadEntry[string, combinerState[A]](e.k, e.v)
		require.NoError(h.t, err)
		require.NoError(h.t, ps[keyInstance(k, n)].RestoreSnapshot(e.k, e.v))
	}
	for _, p := range ps {
		require.NoError(h.t, p.FinishRestore())
	}
	return ps, outs
}

func keyInstance(k string, n int) int { return int(k[len(k)-1]) % n }

// run feeds the stream to instances combiners (keys split among them), and
// restores them into restoreN at step restoreAt (-1: never).
func (h *combHarness[A]) run(s combStream, instances, restoreAt, restoreN int) {
	ps := make([]*frameCombiner[string, A, string], instances)
	outs := make([]*testOutput[WindowResult[string, string]], instances)
	for i := range ps {
		ps[i], outs[i] = h.newCombiner()
	}
	noLateFrames := func() {
		for _, p := range ps {
			require.Zero(h.t, p.lateFrames.Load(), "a frame came after a window holding it closed")
		}
	}
	for i, step := range s.steps {
		if i == restoreAt {
			noLateFrames()
			ps, outs = h.restoreInto(ps, restoreN)
		}
		parts := make([][]frameIn[int64], len(ps))
		for _, f := range step.frames {
			j := keyInstance(f.key, len(ps))
			parts[j] = append(parts[j], f)
		}
		for j, p := range ps {
			if len(parts[j]) > 0 {
				h.feed(p, parts[j])
			}
			h.watermark(outs[j], step.wm, func() (bool, error) { return p.ProcessWatermark(step.wm) })
			requireHeldOnlyOpen(h.t, &p.win)
		}
	}
	for j, p := range ps {
		h.watermark(outs[j], math.MaxInt64, p.Complete)
		requireEmpty(h.t, &p.win)
	}
	noLateFrames()
}

// requireHeldOnlyOpen checks that a close freed the frames of the windows
// it emitted: a frame is held while a window not emitted yet holds it (the
// frame that just left the current window goes at the next close), and a
// key while it has entries.
func requireHeldOnlyOpen[K comparable, A, R any](t *testing.T, c *slidingWindows[K, A, R]) {
	t.Helper()
	refs := map[int32]int32{}
	for _, f := range c.frames {
		require.Greater(t, f.end, c.cur-c.size, "frame %d held after window %d closed", f.end, c.cur)
		for _, s := range f.slots {
			refs[s]++
		}
	}
	require.Equal(t, len(refs), c.index.len(), "keys held without frames")
	for k, s := range c.index.all() {
		require.Equal(t, k, c.slots[s].key)
		require.Equal(t, refs[s], c.slots[s].refs)
	}
	require.Equal(t, len(c.slots), c.index.len()+len(c.free))
}

// requireEmpty checks that a completed stage holds nothing.
func requireEmpty[K comparable, A, R any](t *testing.T, c *slidingWindows[K, A, R]) {
	t.Helper()
	require.Empty(t, c.frames)
	require.Zero(t, c.index.len())
	require.Zero(t, c.inWindow)
}

func testCombiner[A any](t *testing.T, op combOp[A]) {
	for _, w := range []WindowDef{Tumbling(10), Sliding(30, 10), Sliding(50, 10)} {
		for _, restore := range []struct {
			name            string
			instances, into int
		}{{"none", 1, 0}, {"same", 1, 1}, {"scale-up", 1, 2}, {"scale-down", 3, 1}} {
			t.Run(fmt.Sprintf("size=%d/slide=%d/restore=%s", w.size, w.slide, restore.name), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(w.size), 1))
				for range 30 {
					s := genCombStream(rng, w.slide, 40)
					var all []frameIn[int64]
					for _, st := range s.steps {
						all = append(all, st.frames...)
					}
					want := referenceWindows(all, w, func(vs []int64) string {
						a := op.of(vs[0])
						for _, v := range vs[1:] {
							a = op.combine(a, op.of(v))
						}
						return op.export(a)
					})
					h := &combHarness[A]{t: t, w: w, op: op, got: map[string]string{}, lastEnd: map[string]int64{}}
					at := -1
					if restore.into > 0 {
						at = rng.IntN(len(s.steps))
					}
					h.run(s, restore.instances, at, restore.into)
					require.Equal(t, want, h.got)
				}
			})
		}
	}
}

func TestWindowCombinerMatchesReference(t *testing.T) {
	t.Parallel()
	t.Run("deduct", func(t *testing.T) { testCombiner(t, sumOp) })
	t.Run("no-deduct", func(t *testing.T) { testCombiner(t, listOp) })
}

// TestWindowCombinerRestoresKeysAtDifferentPoints restores keys whose
// instances had closed windows up to different watermarks (at-least-once
// snapshots are not aligned) into one instance: each key resumes after the
// last window it emitted.
func TestWindowCombinerRestoresKeysAtDifferentPoints(t *testing.T) {
	t.Parallel()
	w := Sliding(30, 10)
	h := &combHarness[int64]{t: t, w: w, op: sumOp, got: map[string]string{}, lastEnd: map[string]int64{}}
	a, outA := h.newCombiner()
	b, outB := h.newCombiner()
	var frames []frameIn[int64]
	for end := int64(10); end <= 100; end += 10 {
		frames = append(frames, frameIn[int64]{"a", end, end}, frameIn[int64]{"b", end, end + 1})
	}
	split := func(key string, upTo int64) []frameIn[int64] {
		var out []frameIn[int64]
		for _, f := range frames {
			if f.key == key && f.end <= upTo {
				out = append(out, f)
			}
		}
		return out
	}
	h.feed(a, split("a", 50))
	h.watermark(outA, 45, func() (bool, error) { return a.ProcessWatermark(45) })
	h.feed(b, split("b", 70))
	h.watermark(outB, 65, func() (bool, error) { return b.ProcessWatermark(65) })

	ps, outs := h.restoreInto([]*frameCombiner[string, int64, string]{a, b}, 1)
	require.True(t, ps[0].win.missed("b", 60), "b's window 60 was emitted before the restore")
	require.False(t, ps[0].win.missed("a", 60), "a's was not")
	var rest []frameIn[int64]
	for _, f := range frames {
		if (f.key == "a" && f.end > 50) || (f.key == "b" && f.end > 70) {
			rest = append(rest, f)
		}
	}
	h.feed(ps[0], rest)
	h.watermark(outs[0], 55, func() (bool, error) { return ps[0].ProcessWatermark(55) })
	h.watermark(outs[0], math.MaxInt64, ps[0].Complete)
	require.Equal(t, referenceWindows(frames, w, func(vs []int64) string {
		s := int64(0)
		for _, v := range vs {
			s += v
		}
		return fmt.Sprint(s)
	}), h.got)
}

// TestWindowCombinerRestoresOldSnapshots restores entries saved before the
// combining stage kept its progress (the frames alone): they restore, and
// windows are emitted again from the first frame, as they were then.
func TestWindowCombinerRestoresOldSnapshots(t *testing.T) {
	t.Parallel()
	w := Sliding(30, 10)
	h := &combHarness[int64]{t: t, w: w, op: sumOp, got: map[string]string{}, lastEnd: map[string]int64{}}
	p, out := h.newCombiner()
	kb, err := codec.For[string]().Encode("k")
	require.NoError(t, err)
	vb, err := keys.Encode(map[int64]int64{20: 2, 30: 3})
	require.NoError(t, err)
	require.False(t, isArray(vb))
	require.NoError(t, p.RestoreSnapshot(kb, vb))
	require.NoError(t, p.FinishRestore())
	h.feed(p, []frameIn[int64]{{"k", 40, 4}})
	h.watermark(out, math.MaxInt64, p.Complete)
	require.Equal(t, map[string]string{"k@20": "2", "k@30": "5", "k@40": "9", "k@50": "7", "k@60": "4"}, h.got)
}

// TestWindowCombinerLateFrame gives the combining stage frames of windows
// it has already emitted (from an accumulating instance whose inputs were
// idle while the others advanced): they are counted in "late-frames", and
// count in the windows not emitted yet.
func TestWindowCombinerLateFrame(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"deduct", "no-deduct"} {
		t.Run(op, func(t *testing.T) {
			w := Sliding(30, 10)
			o := sumOp
			if op == "no-deduct" {
				o.deduct = nil
			}
			h := &combHarness[int64]{t: t, w: w, op: o, got: map[string]string{}, lastEnd: map[string]int64{}}
			p, out := h.newCombiner()
			h.feed(p, []frameIn[int64]{{"k", 10, 1}, {"k", 20, 2}, {"k", 30, 4}})
			h.watermark(out, 30, func() (bool, error) { return p.ProcessWatermark(30) })
			require.Zero(t, p.lateFrames.Load())
			h.feed(p, []frameIn[int64]{{"k", 20, 8}, {"k", 10, 100}, {"j", 30, 16}, {"j", 40, 32}})
			require.Equal(t, int64(3), p.lateFrames.Load(), "the frames that missed window 30 or older")
			h.watermark(out, math.MaxInt64, p.Complete)
			require.Equal(t, map[string]string{
				"k@10": "1", "k@20": "3", "k@30": "7",
				// Frame 20 now holds 2+8; frame 10 (+100) is in no window
				// left to emit.
				"k@40": "14", "k@50": "4",
				// j's window 30 was emitted before j's frame 30 came.
				"j@40": "48", "j@50": "48", "j@60": "32",
			}, h.got)
		})
	}
}
