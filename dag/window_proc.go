package dag

import (
	"maps"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// lateOutput is the part of a windowing processor that judges lateness:
// an item whose time is behind the watermark already seen is late, counted,
// and delivered to the late-items stages if there are any.
type lateOutput[T any] struct {
	wm    int64
	count *atomic.Int64
	out   *fanout[T]
}

func (l *lateOutput[T]) init(ctx *Context, results int) (err error) {
	l.wm = minWatermark
	l.count = ctx.Counter("late")
	l.out, err = outputRange[T](ctx, results, len(ctx.outputs))
	return err
}

// late reports whether it is late; ok is false if it is late and the late
// output is full (offer it again).
func (l *lateOutput[T]) late(it Timed[T]) (late, ok bool) {
	if it.TS >= l.wm {
		return false, true
	}
	if !l.out.Offer(it) {
		return true, false
	}
	l.count.Add(1)
	return true, true
}

// frameAccumulator is the first stage of a tumbling or sliding window
// aggregation: it accumulates each key's items per frame and hands a frame
// on when the watermark passes its end.
type frameAccumulator[T any, K comparable, A, R any] struct {
	key     func(T) K
	op      AggregateOp[T, A, R]
	w       WindowDef
	results int
	frames  map[int64]map[K]A
	out     *fanout[frameAcc[K, A]]
	late    lateOutput[T]
	pending []frameAcc[K, A]
}

func (p *frameAccumulator[T, K, A, R]) Init(ctx *Context) (err error) {
	p.frames = map[int64]map[K]A{}
	if p.out, err = outputRange[frameAcc[K, A]](ctx, 0, p.results); err != nil {
		return err
	}
	return p.late.init(ctx, p.results)
}

func (p *frameAccumulator[T, K, A, R]) Process(_ int, in *Inbox) error {
	items := Items[Timed[T]](in)
	for i, it := range items {
		if late, ok := p.late.late(it); !ok {
			in.Consume(i)
			return nil
		} else if late {
			continue
		}
		fe := frameEnd(it.TS, p.w.slide)
		f := p.frames[fe]
		if f == nil {
			f = map[K]A{}
			p.frames[fe] = f
		}
		k := p.key(it.V)
		a, ok := f[k]
		if !ok {
			a = p.op.Create()
		}
		f[k] = p.op.Accumulate(a, it.V)
	}
	in.Consume(len(items))
	return nil
}

func (p *frameAccumulator[T, K, A, R]) ProcessWatermark(wm int64) (bool, error) {
	p.late.wm = wm
	return p.flush(wm), nil
}

func (p *frameAccumulator[T, K, A, R]) Complete() (bool, error) {
	return p.flush(math.MaxInt64), nil
}

// flush hands on every frame ending at or before upTo.
func (p *frameAccumulator[T, K, A, R]) flush(upTo int64) bool {
	if len(p.pending) == 0 {
		for _, end := range slices.Sorted(maps.Keys(p.frames)) {
			if end > upTo {
				break
			}
			for k, a := range p.frames[end] {
				p.pending = append(p.pending, frameAcc[K, A]{Key: k, End: end, Acc: a})
			}
			delete(p.frames, end)
		}
	}
	for len(p.pending) > 0 {
		f := p.pending[0]
		if !p.out.Offer(Timed[frameAcc[K, A]]{TS: f.End - 1, V: f}) {
			return false
		}
		p.pending = p.pending[1:]
	}
	p.pending = nil
	return true
}

// frameSet is one key's frames, by frame end.
type frameSet[A any] map[int64]A

// windowsOf lists the ends of the windows that contain some frame of fs,
// above after and at most upTo, ascending.
func windowsOf[A any](fs frameSet[A], w WindowDef, after, upTo int64) []int64 {
	var ends []int64
	seen := map[int64]bool{}
	for fe := range fs {
		for e := fe; e <= fe+w.size-w.slide; e += w.slide {
			if e > after && e <= upTo && !seen[e] {
				seen[e] = true
				ends = append(ends, e)
			}
		}
	}
	slices.Sort(ends)
	return ends
}

// window combines the frames of window [end-size, end).
func window[A any](fs frameSet[A], w WindowDef, end int64, combine func(a, b A) A) (A, bool) {
	var acc A
	found := false
	for fe := end - w.size + w.slide; fe <= end; fe += w.slide {
		a, ok := fs[fe]
		if !ok {
			continue
		}
		if !found {
			acc, found = a, true
		} else {
			acc = combine(acc, a)
		}
	}
	return acc, found
}

// prune drops the frames no window after upTo needs.
func prune[A any](fs frameSet[A], w WindowDef, upTo int64) {
	next := frameEnd(upTo, w.slide) // the first window end after upTo
	for fe := range fs {
		if fe <= next-w.size {
			delete(fs, fe)
		}
	}
}

// windowEmitter holds window results not yet emitted because the outputs
// were full.
type windowEmitter[K comparable, R any] struct {
	out     *fanout[WindowResult[K, R]]
	pending []WindowResult[K, R]
}

func (e *windowEmitter[K, R]) add(key K, start, end int64, v R, early bool) {
	e.pending = append(e.pending, WindowResult[K, R]{Start: time.Unix(0, start), End: time.Unix(0, end), Key: key, Value: v, Early: early})
}

func (e *windowEmitter[K, R]) drain() bool {
	for len(e.pending) > 0 {
		r := e.pending[0]
		if !e.out.Offer(Timed[WindowResult[K, R]]{TS: r.End.UnixNano(), V: r}) {
			return false
		}
		e.pending = e.pending[1:]
	}
	e.pending = nil
	return true
}

// frameCombiner is the second stage of a tumbling or sliding window
// aggregation, on the instance owning the key: it combines frames into
// windows and emits each window when the watermark passes its end.
type frameCombiner[K comparable, A, R any] struct {
	w       WindowDef
	combine func(a, b A) A
	export  func(A) R
	keys    map[K]frameSet[A]
	done    int64 // windows ending at or before done were emitted
	emit    windowEmitter[K, R]
}

func (p *frameCombiner[K, A, R]) Init(ctx *Context) (err error) {
	p.keys = map[K]frameSet[A]{}
	p.done = minWatermark
	p.emit.out, err = outputs[WindowResult[K, R]](ctx)
	return err
}

func (p *frameCombiner[K, A, R]) Process(_ int, in *Inbox) error {
	for _, it := range Items[Timed[frameAcc[K, A]]](in) {
		f := it.V
		fs := p.keys[f.Key]
		if fs == nil {
			fs = frameSet[A]{}
			p.keys[f.Key] = fs
		}
		if a, ok := fs[f.End]; ok {
			fs[f.End] = p.combine(a, f.Acc)
		} else {
			fs[f.End] = f.Acc
		}
	}
	in.Consume(in.Len())
	return nil
}

func (p *frameCombiner[K, A, R]) ProcessWatermark(wm int64) (bool, error) {
	return p.closeUpTo(wm), nil
}

func (p *frameCombiner[K, A, R]) Complete() (bool, error) {
	return p.closeUpTo(math.MaxInt64 - p.w.size), nil
}

// closeUpTo emits every window ending at or before upTo not emitted yet.
func (p *frameCombiner[K, A, R]) closeUpTo(upTo int64) bool {
	if !p.emit.drain() {
		return false
	}
	if upTo <= p.done {
		return true
	}
	for k, fs := range p.keys {
		for _, e := range windowsOf(fs, p.w, p.done, upTo) {
			if a, ok := window(fs, p.w, e, p.combine); ok {
				p.emit.add(k, e-p.w.size, e, p.export(a), false)
			}
		}
		prune(fs, p.w, upTo)
		if len(fs) == 0 {
			delete(p.keys, k)
		}
	}
	p.done = upTo
	return p.emit.drain()
}

// session is one key's open session window.
type session[A any] struct {
	start, end int64 // end: the last item's time plus the gap
	acc        A
}

// windowP aggregates windows in one stage, after the partitioned edge:
// session windows, and tumbling or sliding windows with early results.
type windowP[T any, K comparable, A, R any] struct {
	key       func(T) K
	op        AggregateOp[T, A, R]
	w         WindowDef
	results   int
	ctx       *Context
	frames    map[K]frameSet[A]
	sessions  map[K][]session[A]
	late      lateOutput[T]
	done      int64
	emit      windowEmitter[K, R]
	nextEarly time.Time
}

func (p *windowP[T, K, A, R]) Init(ctx *Context) (err error) {
	p.ctx = ctx
	p.frames, p.sessions = map[K]frameSet[A]{}, map[K][]session[A]{}
	p.done = minWatermark
	if p.emit.out, err = outputRange[WindowResult[K, R]](ctx, 0, p.results); err != nil {
		return err
	}
	if p.w.early > 0 {
		p.nextEarly = time.Now().Add(p.w.early)
	}
	return p.late.init(ctx, p.results)
}

func (p *windowP[T, K, A, R]) Process(_ int, in *Inbox) error {
	if !p.emit.drain() {
		return nil
	}
	items := Items[Timed[T]](in)
	for i, it := range items {
		if late, ok := p.late.late(it); !ok {
			in.Consume(i)
			return nil
		} else if late {
			continue
		}
		k := p.key(it.V)
		if p.w.kind == winSession {
			p.addToSession(k, it)
			continue
		}
		fs := p.frames[k]
		if fs == nil {
			fs = frameSet[A]{}
			p.frames[k] = fs
		}
		fe := frameEnd(it.TS, p.w.slide)
		a, ok := fs[fe]
		if !ok {
			a = p.op.Create()
		}
		fs[fe] = p.op.Accumulate(a, it.V)
	}
	in.Consume(len(items))
	return nil
}

// addToSession adds an item to its key's sessions, merging the sessions it
// bridges.
func (p *windowP[T, K, A, R]) addToSession(k K, it Timed[T]) {
	s := session[A]{start: it.TS, end: it.TS + p.w.gap, acc: p.op.Accumulate(p.op.Create(), it.V)}
	kept := p.sessions[k][:0]
	for _, o := range p.sessions[k] {
		if o.start < s.end && s.start < o.end {
			s.start, s.end = min(s.start, o.start), max(s.end, o.end)
			s.acc = p.op.Combine(o.acc, s.acc)
			continue
		}
		kept = append(kept, o)
	}
	kept = append(kept, s)
	slices.SortFunc(kept, func(a, b session[A]) int { return cmpInt(a.start, b.start) })
	p.sessions[k] = kept
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p *windowP[T, K, A, R]) ProcessWatermark(wm int64) (bool, error) {
	p.late.wm = wm
	return p.closeUpTo(wm), nil
}

func (p *windowP[T, K, A, R]) Complete() (bool, error) {
	return p.closeUpTo(math.MaxInt64 - max(p.w.size, p.w.gap)), nil
}

func (p *windowP[T, K, A, R]) closeUpTo(upTo int64) bool {
	if !p.emit.drain() {
		return false
	}
	if upTo <= p.done {
		return true
	}
	if p.w.kind == winSession {
		for k, ss := range p.sessions {
			kept := ss[:0]
			for _, s := range ss {
				if s.end <= upTo {
					p.emit.add(k, s.start, s.end, p.op.Export(s.acc), false)
				} else {
					kept = append(kept, s)
				}
			}
			if len(kept) == 0 {
				delete(p.sessions, k)
			} else {
				p.sessions[k] = kept
			}
		}
	} else {
		for k, fs := range p.frames {
			for _, e := range windowsOf(fs, p.w, p.done, upTo) {
				if a, ok := window(fs, p.w, e, p.op.Combine); ok {
					p.emit.add(k, e-p.w.size, e, p.op.Export(a), false)
				}
			}
			prune(fs, p.w, upTo)
			if len(fs) == 0 {
				delete(p.frames, k)
			}
		}
	}
	p.done = upTo
	return p.emit.drain()
}

// TryProcess emits early results when they are due.
func (p *windowP[T, K, A, R]) TryProcess() (bool, error) {
	if p.w.early <= 0 || !p.emit.drain() {
		return false, nil
	}
	now := time.Now()
	if now.Before(p.nextEarly) {
		return false, nil
	}
	p.nextEarly = now.Add(p.w.early)
	if p.w.kind == winSession {
		for k, ss := range p.sessions {
			for _, s := range ss {
				p.emit.add(k, s.start, s.end, p.op.Export(s.acc), true)
			}
		}
	} else {
		for k, fs := range p.frames {
			for _, e := range windowsOf(fs, p.w, p.done, math.MaxInt64-p.w.size) {
				if a, ok := window(fs, p.w, e, p.op.Combine); ok {
					p.emit.add(k, e-p.w.size, e, p.op.Export(a), true)
				}
			}
		}
	}
	p.emit.drain()
	return true, nil
}
