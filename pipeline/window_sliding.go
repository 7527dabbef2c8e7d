package pipeline

import (
	"math"
	"slices"
	"time"

	"github.com/weir-dev/weir/dag"
)

// windowSlot is one key of a slidingWindows: its value in the current
// window, and how many frame entries refer to it. What every frame entry
// touches is here, kept small so that the slots stay in cache; the rest is
// in slotExtra.
type windowSlot[K comparable, A any] struct {
	key K
	acc A     // the key's value in the current window, when n > 0
	n   int32 // the key's entries in the frames of the current window
	// refs counts the key's entries in every frame held: the slot is freed
	// when it drops to 0.
	refs int32
}

// slotExtra is the rest of a slot's state.
type slotExtra struct {
	// stamp is the window the slot's acc was computed for, without Deduct.
	stamp int64
	// skip: windows ending at or before it were emitted before a restore.
	skip int64
	// The entry windowP accumulates the key's items into: its frame's end
	// and its index there.
	accEnd int64
	accIdx int32
}

// entryFrame is one frame (a slide of event time) of a slidingWindows:
// partial aggregates of keys, by slot, in arrival order. A key may have
// several (one per accumulating instance): they are combined on the way
// into windows.
type entryFrame[A any] struct {
	end   int64
	slots []int32
	accs  []A
}

const noWindow = math.MinInt64

// slidingWindows turns frames into tumbling or sliding windows and emits
// each window's results when the watermark passes its end.
//
// A window holds the frames ending in (end-size, end]. The slots keep every
// key's value for the current window (ending at cur); closing the next one
// adds the frame that enters and, with a Deduct, removes the one that
// leaves, so a close costs the entries of two frames plus one result per
// key. Without a Deduct a window is combined from its frames, in time order.
// Results are emitted while the keys are scanned: when the outputs are full
// the close stops, and resumes at the same key when called again.
type slidingWindows[K comparable, A, R any] struct {
	size, slide     int64
	combine, deduct func(a, b A) A
	export          func(A) R
	out             *fanout[WindowResult[K, R]]

	index  keyTable[K]
	slots  []windowSlot[K, A]
	extra  []slotExtra // by slot
	free   []int32
	skip   int64            // the highest slotExtra.skip
	frames []*entryFrame[A] // ascending ends; those ending at or before cur are in the window
	last   *entryFrame[A]   // where the last entry went: entries come frame by frame
	spare  []*entryFrame[A]

	cur      int64 // end of the current window, noWindow before the first
	inWindow int   // entries of the current window's frames
	done     int64 // windows ending at or before done were emitted
	closing  int64 // the highest watermark a close was asked for
	emitting bool  // window cur is being emitted, from slot next
	next     int

	// What a restore gathers until FinishRestore.
	restored     bool
	restoredDone int64

	// Early results: the values of the windows not closed yet, by slot.
	early      []A
	earlyStamp []int64
	touched    []int32
}

func (c *slidingWindows[K, A, R]) init(w WindowDef, combine, deduct func(a, b A) A, export func(A) R, out *fanout[WindowResult[K, R]]) {
	c.size, c.slide = w.size, w.slide
	c.combine, c.deduct, c.export, c.out = combine, deduct, export, out
	c.index.init()
	c.cur, c.done, c.closing, c.skip = noWindow, dag.MinWatermark, dag.MinWatermark, dag.MinWatermark
	c.restoredDone = math.MaxInt64
}

// slot returns k's slot, made if k has none.
func (c *slidingWindows[K, A, R]) slot(k K) int32 {
	if s, ok := c.index.get(k); ok {
		return s
	}
	var s int32
	if n := len(c.free); n > 0 {
		s, c.free = c.free[n-1], c.free[:n-1]
	} else {
		s = int32(len(c.slots))
		c.slots = append(c.slots, windowSlot[K, A]{})
		c.extra = append(c.extra, slotExtra{})
	}
	k = owned(k)
	c.slots[s] = windowSlot[K, A]{key: k}
	c.extra[s] = slotExtra{stamp: noWindow, skip: dag.MinWatermark, accEnd: noWindow}
	c.index.put(k, s)
	return s
}

// release drops one reference to slot s, freeing it at the last.
func (c *slidingWindows[K, A, R]) release(s int32) {
	sl := &c.slots[s]
	if sl.refs--; sl.refs > 0 {
		return
	}
	c.index.delete(sl.key)
	*sl = windowSlot[K, A]{}
	c.free = append(c.free, s)
}

// frameAt returns the frame holding time ts.
func (c *slidingWindows[K, A, R]) frameAt(ts int64) *entryFrame[A] {
	if f := c.last; f != nil && ts < f.end && ts >= f.end-c.slide {
		return f
	}
	return c.frame(frameEnd(ts, c.slide))
}

// frame returns the frame ending at end, made if there is none.
func (c *slidingWindows[K, A, R]) frame(end int64) *entryFrame[A] {
	if f := c.last; f != nil && f.end == end {
		return f
	}
	i := len(c.frames)
	for i > 0 && c.frames[i-1].end >= end {
		i--
	}
	if i < len(c.frames) && c.frames[i].end == end {
		c.last = c.frames[i]
		return c.last
	}
	var f *entryFrame[A]
	if n := len(c.spare); n > 0 {
		f, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		f = &entryFrame[A]{}
	}
	f.end = end
	c.frames = slices.Insert(c.frames, i, f)
	c.last = f
	return f
}

// dropFirst removes the oldest frame, whose entries have left the window.
func (c *slidingWindows[K, A, R]) dropFirst() {
	f := c.frames[0]
	for _, s := range f.slots {
		c.release(s)
	}
	c.frames = slices.Delete(c.frames, 0, 1)
	if c.last == f {
		c.last = nil
	}
	if len(c.spare) < maxSpareFrames {
		clear(f.accs)
		f.slots, f.accs = f.slots[:0], f.accs[:0]
		c.spare = append(c.spare, f)
	}
}

// add adds a partial aggregate of key k's items in the frame ending at
// end.
func (c *slidingWindows[K, A, R]) add(k K, end int64, a A) {
	if c.emitted(end) {
		return
	}
	c.put(c.frame(end), c.slot(k), a)
}

// emitted reports whether every window holding the frame ending at end was
// emitted: its last one, end+size-slide, is the current one or older.
func (c *slidingWindows[K, A, R]) emitted(end int64) bool {
	return c.cur != noWindow && end <= c.cur+c.slide-c.size
}

// missed reports whether a window of key k holding the frame ending at
// end was emitted before the frame came: the frame's items are not in it.
func (c *slidingWindows[K, A, R]) missed(k K, end int64) bool {
	if c.cur != noWindow && end <= c.cur {
		return true
	}
	if end > c.skip {
		return false
	}
	s, ok := c.index.get(k)
	return ok && end <= c.extra[s].skip // emitted before a restore
}

// put adds an entry for slot s to frame f and returns its index. An entry
// for a frame already in the current window comes late: from an
// accumulating instance behind the others (see frameCombiner), or to a
// restored stage judging lateness from behind the windows emitted (see
// windowP.accumulate). It joins the window at once.
func (c *slidingWindows[K, A, R]) put(f *entryFrame[A], s int32, a A) int {
	f.slots = append(f.slots, s)
	f.accs = append(f.accs, a)
	c.slots[s].refs++
	if f.end <= c.cur {
		c.enter(s, a)
	}
	return len(f.accs) - 1
}

func (c *slidingWindows[K, A, R]) enter(s int32, a A) {
	sl := &c.slots[s]
	if c.deduct != nil {
		if sl.n == 0 {
			sl.acc = a
		} else {
			sl.acc = c.combine(sl.acc, a)
		}
	}
	sl.n++
	c.inWindow++
}

func (c *slidingWindows[K, A, R]) leave(s int32, a A) {
	sl := &c.slots[s]
	sl.n--
	c.inWindow--
	if sl.n == 0 {
		var zero A
		sl.acc = zero
	} else if c.deduct != nil {
		sl.acc = c.deduct(sl.acc, a)
	}
}

// alignUp is the first window end at or after t.
func (c *slidingWindows[K, A, R]) alignUp(t int64) int64 { return frameEnd(t-1, c.slide) }

// nextEnd is the end of the next window holding any frame.
func (c *slidingWindows[K, A, R]) nextEnd() (int64, bool) {
	if c.inWindow > 0 {
		return c.cur + c.slide, true
	}
	// The window is empty, so every frame ends after cur.
	if len(c.frames) == 0 {
		return 0, false
	}
	return c.alignUp(c.frames[0].end), true
}

// step makes window e (the next holding any frame) the current one.
func (c *slidingWindows[K, A, R]) step(e int64) {
	for len(c.frames) > 0 && c.frames[0].end <= e-c.size {
		if f := c.frames[0]; f.end <= c.cur {
			for i, s := range f.slots {
				c.leave(s, f.accs[i])
			}
		}
		c.dropFirst()
	}
	for _, f := range c.frames {
		if f.end > e {
			break
		}
		if c.cur != noWindow && f.end <= c.cur {
			continue
		}
		for i, s := range f.slots {
			c.enter(s, f.accs[i])
		}
	}
	c.cur = e
	if c.deduct != nil {
		return
	}
	for _, f := range c.frames {
		if f.end > e {
			break
		}
		for i, s := range f.slots {
			if x := &c.extra[s]; x.stamp != e {
				c.slots[s].acc, x.stamp = f.accs[i], e
			} else {
				c.slots[s].acc = c.combine(c.slots[s].acc, f.accs[i])
			}
		}
	}
}

// closeUpTo emits every window ending at or before upTo not emitted yet;
// false means the outputs are full: call it again.
func (c *slidingWindows[K, A, R]) closeUpTo(upTo int64) bool {
	c.closing = max(c.closing, upTo)
	if c.emitting {
		if !c.emitCurrent() {
			return false
		}
		c.emitting = false
	}
	if c.closing <= c.done {
		return true
	}
	last := c.closing - ((c.closing%c.slide)+c.slide)%c.slide // the last window end to close
	for {
		e, ok := c.nextEnd()
		if !ok || e > last {
			break
		}
		c.step(e)
		c.emitting, c.next = true, 0
		if !c.emitCurrent() {
			return false
		}
		c.emitting = false
	}
	if c.inWindow == 0 && c.cur < last {
		c.cur = last // nothing in between: skip the empty windows
	}
	c.done = c.closing
	return true
}

// finishClose completes a close the outputs interrupted.
func (c *slidingWindows[K, A, R]) finishClose() bool { return c.closeUpTo(c.closing) }

// busy reports whether a close is under way.
func (c *slidingWindows[K, A, R]) busy() bool { return c.closing > c.done }

// emitCurrent offers the result of window cur of every key in it, from slot
// next on.
func (c *slidingWindows[K, A, R]) emitCurrent() bool {
	e := c.cur
	start, end := time.Unix(0, e-c.size), time.Unix(0, e)
	skipping := e <= c.skip
	for ; c.next < len(c.slots); c.next++ {
		sl := &c.slots[c.next]
		if sl.n == 0 || (skipping && e <= c.extra[c.next].skip) {
			continue
		}
		r := WindowResult[K, R]{Start: start, End: end, Key: sl.key, Value: c.export(sl.acc)}
		if !c.out.Offer(Timed[WindowResult[K, R]]{TS: e, V: r}) {
			return false
		}
	}
	return true
}

// earlyResults passes to add the running value of every key in every
// window not closed yet.
func (c *slidingWindows[K, A, R]) earlyResults(add func(k K, start, end int64, v R)) {
	if len(c.frames) == 0 {
		return
	}
	if n := len(c.slots); len(c.early) < n {
		c.early = slices.Grow(c.early[:0], n)[:n]
		c.earlyStamp = slices.Grow(c.earlyStamp[:0], n)[:n]
	}
	for i := range c.earlyStamp {
		c.earlyStamp[i] = noWindow
	}
	newest := c.frames[len(c.frames)-1].end
	e, _ := c.nextEnd()
	for e < newest+c.size {
		c.touched = c.touched[:0]
		next := int64(math.MaxInt64) // the first frame after window e
		for _, f := range c.frames {
			if f.end <= e-c.size {
				continue
			}
			if f.end > e {
				next = f.end
				break
			}
			for i, s := range f.slots {
				if c.earlyStamp[s] != e {
					c.early[s], c.earlyStamp[s] = f.accs[i], e
					c.touched = append(c.touched, s)
				} else {
					c.early[s] = c.combine(c.early[s], f.accs[i])
				}
			}
		}
		for _, s := range c.touched {
			if e > c.extra[s].skip {
				add(c.slots[s].key, e-c.size, e, c.export(c.early[s]))
			}
		}
		if len(c.touched) == 0 {
			if next == math.MaxInt64 {
				break
			}
			e = c.alignUp(next) // skip the windows between frames
			continue
		}
		e += c.slide
	}
	clear(c.early)
}

// snapshot passes to save each key's frames (one accumulator per frame)
// and the watermark its windows were emitted up to.
func (c *slidingWindows[K, A, R]) snapshot(save func(k K, frames map[int64]A, done int64) error) error {
	bySlot := make([]map[int64]A, len(c.slots))
	for _, f := range c.frames {
		if c.emitted(f.end) {
			continue
		}
		for i, s := range f.slots {
			m := bySlot[s]
			if m == nil {
				m = map[int64]A{}
				bySlot[s] = m
			}
			if a, ok := m[f.end]; ok {
				m[f.end] = c.combine(a, f.accs[i])
			} else {
				m[f.end] = f.accs[i]
			}
		}
	}
	for s, m := range bySlot {
		if m != nil {
			if err := save(c.slots[s].key, m, max(c.done, c.extra[s].skip)); err != nil {
				return err
			}
		}
	}
	return nil
}

// restore adds a key's frames from a snapshot; done is the watermark its
// windows were emitted up to (MinWatermark if the snapshot does not say).
func (c *slidingWindows[K, A, R]) restore(k K, frames map[int64]A, done int64) {
	if len(frames) == 0 {
		return
	}
	c.restored = true
	c.restoredDone = min(c.restoredDone, done)
	for end, a := range frames {
		c.put(c.frame(end), c.slot(k), a)
	}
	s, _ := c.index.get(k)
	x := &c.extra[s]
	x.skip = max(x.skip, done)
	c.skip = max(c.skip, done)
}

// finishRestore resumes from the restored frames: the windows every key
// had emitted are done, and the frames of the current window enter it, in
// time order. A key whose instance had emitted more skips those windows.
func (c *slidingWindows[K, A, R]) finishRestore() {
	if !c.restored {
		return
	}
	c.restored = false
	if c.restoredDone == dag.MinWatermark {
		return // an older snapshot: windows are emitted again from the first frame
	}
	c.done, c.closing = c.restoredDone, c.restoredDone
	c.cur = c.done - ((c.done%c.slide)+c.slide)%c.slide
	for len(c.frames) > 0 && c.frames[0].end <= c.cur-c.size {
		c.dropFirst()
	}
	for _, f := range c.frames {
		if f.end > c.cur {
			break
		}
		for i, s := range f.slots {
			c.enter(s, f.accs[i])
		}
	}
}
