package pipeline

import (
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/dag"
)

// lateOutput is the part of a windowing processor that judges lateness:
// an item whose time is behind the watermark already seen is late, counted,
// and delivered to the late-items stages if there are any.
//
// The watermark is part of the stage's snapshot: a restored stage judges
// lateness from where it was, not from the first watermark of the new run,
// which starts again low (the sources rebuild theirs from the items they
// read). Otherwise the items replayed or read after a restore for windows
// already emitted would be on time, and lost without a count.
type lateOutput[T any] struct {
	wm    int64
	count *atomic.Int64
	out   *fanout[T]
	index int // the instance's GlobalIndex, the key of its saved watermark
	// restored is the lowest watermark a restore has given, math.MaxInt64
	// for none.
	restored int64
}

func (l *lateOutput[T]) init(ctx *dag.Context, results int) (err error) {
	l.wm, l.restored = dag.MinWatermark, math.MaxInt64
	l.index = ctx.GlobalIndex
	l.count = ctx.Counter("late")
	l.out, err = outputRange[T](ctx, results, ctx.Outputs())
	return err
}

// advance takes a watermark. After a restore, the first watermarks of the
// new run are behind the restored one: lateness is judged by the highest.
func (l *lateOutput[T]) advance(wm int64) { l.wm = max(l.wm, wm) }

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

// lateMark is the watermark of one instance of a windowing stage in a
// snapshot. It is a broadcast entry: after a restart, keys and inputs may
// go to other instances, so every instance reads every instance's mark.
// It is a msgpack array, and the stages' keyed entries are maps: isArray
// tells them apart.
type lateMark struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Watermark int64
}

// mark is what save saves; false if the instance has had no watermark
// (its input idle from the start): it holds no window back.
func (l *lateOutput[T]) mark() (lateMark, bool) {
	return lateMark{Watermark: l.wm}, l.wm != dag.MinWatermark
}

// save saves the instance's watermark.
func (l *lateOutput[T]) save(w *dag.SnapshotWriter) error {
	if m, ok := l.mark(); ok {
		return dag.SaveBroadcast(w, l.index, m)
	}
	return nil
}

// restore takes a saved lateMark.
func (l *lateOutput[T]) restore(key, value []byte) error {
	_, m, err := dag.LoadEntry[int, lateMark](key, value)
	if err != nil {
		return err
	}
	l.restored = min(l.restored, m.Watermark)
	return nil
}

// finishRestore judges lateness from the lowest watermark the instances
// had reached. They differ when their inputs do: an accumulating instance
// reads its own source instance's partitions, and may now read others. The
// combining stage emits a window once every accumulating instance whose
// input is not idle has passed its end, and the instances of a one-stage
// aggregation, which read every input, are at the same watermark at an
// aligned barrier. So an item on time by the lowest falls in windows not
// emitted yet, and an item late by it was late on every instance. (An
// instance whose input had gone idle saved the watermark it had then, which
// lets through items the combining stage is past, as its input would when
// it delivers again without a restore.) A snapshot without marks (taken
// before they were saved) leaves the watermark to the new run.
func (l *lateOutput[T]) finishRestore() {
	if l.restored != math.MaxInt64 {
		l.advance(l.restored)
	}
	l.restored = math.MaxInt64
}

// maxSpareFrames bounds the emptied frames a stage keeps for reuse.
const maxSpareFrames = 8

// accFrame is one frame (a slide of event time) of the accumulating stage:
// each key's accumulator, in the order the keys first appeared.
type accFrame[K comparable, A, X any] struct {
	end   int64
	index keyTable[K] // key -> position in keys and accs
	keys  []K
	accs  []A
	sent  int // entries handed on so far, while the frame is flushed
	x     X   // what else a stage keeps per frame; emptied with the frame if it has a reset method
}

// add appends a key not yet in the frame.
func (f *accFrame[K, A, X]) add(k K, a A) {
	k = owned(k)
	f.index.put(k, int32(len(f.keys)))
	f.keys = append(f.keys, k)
	f.accs = append(f.accs, a)
}

// accFrames are the open frames of an accumulating stage, by end. Items
// arrive mostly in time order, so the frame of the last item is tried first.
type accFrames[K comparable, A, X any] struct {
	slide int64
	open  []*accFrame[K, A, X] // ascending ends
	last  *accFrame[K, A, X]
	spare []*accFrame[K, A, X]
}

// at returns the frame holding time ts.
func (fs *accFrames[K, A, X]) at(ts int64) *accFrame[K, A, X] {
	if f := fs.last; f != nil && ts < f.end && ts >= f.end-fs.slide {
		return f
	}
	return fs.frame(frameEnd(ts, fs.slide))
}

// frame returns the frame ending at end, made if there is none.
func (fs *accFrames[K, A, X]) frame(end int64) *accFrame[K, A, X] {
	if f := fs.last; f != nil && f.end == end {
		return f
	}
	i := len(fs.open)
	for i > 0 && fs.open[i-1].end >= end {
		i--
	}
	if i < len(fs.open) && fs.open[i].end == end {
		fs.last = fs.open[i]
		return fs.last
	}
	var f *accFrame[K, A, X]
	if n := len(fs.spare); n > 0 {
		f, fs.spare = fs.spare[n-1], fs.spare[:n-1]
	} else {
		f = &accFrame[K, A, X]{}
		f.index.init()
	}
	f.end = end
	fs.open = slices.Insert(fs.open, i, f)
	fs.last = f
	return f
}

// dropFirst removes the oldest frame, keeping its memory for reuse.
func (fs *accFrames[K, A, X]) dropFirst() {
	f := fs.open[0]
	fs.open = slices.Delete(fs.open, 0, 1)
	if fs.last == f {
		fs.last = nil
	}
	if len(fs.spare) < maxSpareFrames {
		f.index.reset()
		clear(f.keys)
		clear(f.accs)
		f.keys, f.accs, f.sent = f.keys[:0], f.accs[:0], 0
		if r, ok := any(&f.x).(interface{ reset() }); ok {
			r.reset()
		}
		fs.spare = append(fs.spare, f)
	}
}

// frameAccumulator is the first stage of a tumbling or sliding window
// aggregation: it accumulates each key's items per frame and hands a frame
// on when the watermark passes its end.
type frameAccumulator[T any, K comparable, A, R any] struct {
	key     func(T) K
	op      AggregateOp[T, A, R]
	w       WindowDef
	results int
	frames  accFrames[K, A, struct{}]
	flushTo int64 // frames ending at or before it are handed on
	out     *fanout[frameAcc[K, A]]
	late    lateOutput[T]
}

func (p *frameAccumulator[T, K, A, R]) Init(ctx *dag.Context) (err error) {
	p.frames.slide = p.w.slide
	p.flushTo = dag.MinWatermark
	if p.out, err = outputRange[frameAcc[K, A]](ctx, 0, p.results); err != nil {
		return err
	}
	return p.late.init(ctx, p.results)
}

func (p *frameAccumulator[T, K, A, R]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[T]](in)
	for i, it := range items {
		if late, ok := p.late.late(it); !ok {
			in.Consume(i)
			return nil
		} else if late {
			continue
		}
		f := p.frames.at(it.TS)
		k := p.key(it.V)
		if j, ok := f.index.get(k); ok {
			f.accs[j] = p.op.Accumulate(f.accs[j], it.V)
		} else {
			f.add(k, p.op.Accumulate(p.op.Create(), it.V))
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *frameAccumulator[T, K, A, R]) ProcessWatermark(wm int64) (bool, error) {
	p.late.advance(wm)
	return p.flush(wm), nil
}

func (p *frameAccumulator[T, K, A, R]) Complete() (bool, error) {
	return p.flush(math.MaxInt64), nil
}

// flush hands on every frame ending at or before upTo, and those of an
// earlier flush the outputs interrupted. No item reaches these frames
// meanwhile: their items would be late.
func (p *frameAccumulator[T, K, A, R]) flush(upTo int64) bool {
	p.flushTo = max(p.flushTo, upTo)
	for len(p.frames.open) > 0 {
		f := p.frames.open[0]
		if f.end > p.flushTo {
			break
		}
		for ; f.sent < len(f.keys); f.sent++ {
			if !p.out.Offer(Timed[frameAcc[K, A]]{TS: f.end - 1, V: frameAcc[K, A]{Key: f.keys[f.sent], End: f.end, Acc: f.accs[f.sent]}}) {
				return false
			}
		}
		p.frames.dropFirst()
	}
	return true
}

// windowEmitter holds window results not yet emitted because the outputs
// were full.
type windowEmitter[K comparable, R any] struct {
	out     *fanout[WindowResult[K, R]]
	pending []WindowResult[K, R]
	sent    int
}

func (e *windowEmitter[K, R]) add(key K, start, end int64, v R, early bool) {
	e.pending = append(e.pending, WindowResult[K, R]{Start: time.Unix(0, start), End: time.Unix(0, end), Key: key, Value: v, Early: early})
}

func (e *windowEmitter[K, R]) drain() bool {
	for ; e.sent < len(e.pending); e.sent++ {
		r := e.pending[e.sent]
		if !e.out.Offer(Timed[WindowResult[K, R]]{TS: r.End.UnixNano(), V: r}) {
			return false
		}
	}
	clear(e.pending)
	e.pending, e.sent = e.pending[:0], 0
	return true
}

// frameCombiner is the second stage of a tumbling or sliding window
// aggregation, on the instance owning the key: it combines frames into
// windows and emits each window when the watermark passes its end.
//
// Its watermark is the lowest of the accumulating instances', leaving out
// those whose inputs are all idle. Such an instance keeps its frames and
// its own watermark, which may be behind the others' (its input went idle
// earlier, or it saw its inputs' idle marks in another order). When its
// inputs deliver again, it can hand on frames of windows emitted
// meanwhile. Their items miss those windows without being counted late:
// each such frame is counted in "late-frames".
type frameCombiner[K comparable, A, R any] struct {
	w          WindowDef
	combine    func(a, b A) A
	deduct     func(a, b A) A // optional
	export     func(A) R
	win        slidingWindows[K, A, R]
	lateFrames *atomic.Int64
}

func (p *frameCombiner[K, A, R]) Init(ctx *dag.Context) error {
	out, err := outputs[WindowResult[K, R]](ctx)
	if err != nil {
		return err
	}
	p.win.init(p.w, p.combine, p.deduct, p.export, out)
	p.lateFrames = ctx.Counter("late-frames")
	return nil
}

func (p *frameCombiner[K, A, R]) Process(_ int, in *dag.Inbox) error {
	for _, it := range dag.Items[Timed[frameAcc[K, A]]](in) {
		if p.win.missed(it.V.Key, it.V.End) {
			p.lateFrames.Add(1)
		}
		p.win.add(it.V.Key, it.V.End, it.V.Acc)
	}
	in.Consume(in.Len())
	return nil
}

func (p *frameCombiner[K, A, R]) ProcessWatermark(wm int64) (bool, error) {
	return p.win.closeUpTo(wm), nil
}

func (p *frameCombiner[K, A, R]) Complete() (bool, error) {
	return p.win.closeUpTo(math.MaxInt64 - p.w.size), nil
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
	ctx       *dag.Context
	win       slidingWindows[K, A, R]
	sessions  map[K][]session[A]
	late      lateOutput[T]
	done      int64 // sessions ending at or before done were emitted
	emit      windowEmitter[K, R]
	nextEarly time.Time
}

func (p *windowP[T, K, A, R]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	p.sessions = map[K][]session[A]{}
	p.done = dag.MinWatermark
	if p.emit.out, err = outputRange[WindowResult[K, R]](ctx, 0, p.results); err != nil {
		return err
	}
	p.win.init(p.w, p.op.Combine, p.op.Deduct, p.op.Export, p.emit.out)
	if p.w.early > 0 {
		p.nextEarly = time.Now().Add(p.w.early)
	}
	return p.late.init(ctx, p.results)
}

func (p *windowP[T, K, A, R]) Process(_ int, in *dag.Inbox) error {
	if !p.emit.drain() {
		return nil
	}
	items := dag.Items[Timed[T]](in)
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
		p.accumulate(k, it)
	}
	in.Consume(len(items))
	return nil
}

// accumulate adds an item to its key's entry in its frame.
func (p *windowP[T, K, A, R]) accumulate(k K, it Timed[T]) {
	if c := &p.win; c.cur != noWindow && it.TS < c.cur {
		// Only after a restore that judges lateness from behind the windows
		// emitted: from a snapshot without the watermark, or of instances at
		// different watermarks (at-least-once barriers are not aligned). The
		// frame is in the current window (or before it), and its entries
		// have entered it. Give the item an entry of its own.
		c.add(k, frameEnd(it.TS, c.slide), p.op.Accumulate(p.op.Create(), it.V))
		return
	}
	s := p.win.slot(k)
	f := p.win.frameAt(it.TS)
	if x := &p.win.extra[s]; x.accEnd == f.end && int(x.accIdx) < len(f.slots) && f.slots[x.accIdx] == s {
		f.accs[x.accIdx] = p.op.Accumulate(f.accs[x.accIdx], it.V)
		return
	}
	i := p.win.put(f, s, p.op.Accumulate(p.op.Create(), it.V))
	x := &p.win.extra[s]
	x.accEnd, x.accIdx = f.end, int32(i)
}

// addToSession adds an item to its key's sessions, merging the sessions it
// bridges.
func (p *windowP[T, K, A, R]) addToSession(k K, it Timed[T]) {
	s := session[A]{start: it.TS, end: it.TS + p.w.gap, acc: p.op.Accumulate(p.op.Create(), it.V)}
	old, had := p.sessions[k]
	if !had {
		k = owned(k)
	}
	kept := old[:0]
	for _, o := range old {
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
	p.late.advance(wm)
	return p.closeUpTo(wm), nil
}

func (p *windowP[T, K, A, R]) Complete() (bool, error) {
	return p.closeUpTo(math.MaxInt64 - max(p.w.size, p.w.gap)), nil
}

func (p *windowP[T, K, A, R]) closeUpTo(upTo int64) bool {
	if !p.emit.drain() {
		return false
	}
	if p.w.kind != winSession {
		return p.win.closeUpTo(upTo)
	}
	if upTo <= p.done {
		return true
	}
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
	p.done = upTo
	return p.emit.drain()
}

// TryProcess emits early results when they are due.
func (p *windowP[T, K, A, R]) TryProcess() (bool, error) {
	if p.w.early <= 0 || (p.w.kind != winSession && p.win.busy()) || !p.emit.drain() {
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
		p.win.earlyResults(func(k K, start, end int64, v R) { p.emit.add(k, start, end, v, true) })
	}
	p.emit.drain()
	return true, nil
}

// SaveSnapshot saves the watermark and each key's open frames.
func (p *frameAccumulator[T, K, A, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.flush(p.flushTo) {
		return false, nil
	}
	if err := p.late.save(w); err != nil {
		return false, err
	}
	return true, p.snapshot(func(k K, frames map[int64]A) error { return dag.SaveEntry(w, k, frames) })
}

// snapshot passes to save each key's open frames.
func (p *frameAccumulator[T, K, A, R]) snapshot(save func(k K, frames map[int64]A) error) error {
	byKey := map[K]map[int64]A{}
	for _, f := range p.frames.open {
		for i, k := range f.keys {
			if byKey[k] == nil {
				byKey[k] = map[int64]A{}
			}
			byKey[k][f.end] = f.accs[i]
		}
	}
	for k, fs := range byKey {
		if err := save(k, fs); err != nil {
			return err
		}
	}
	return nil
}

func (p *frameAccumulator[T, K, A, R]) RestoreSnapshot(key, value []byte) error {
	if isArray(value) {
		return p.late.restore(key, value)
	}
	k, fs, err := dag.LoadEntry[K, map[int64]A](key, value)
	if err != nil {
		return err
	}
	for end, a := range fs {
		f := p.frames.frame(end)
		if i, ok := f.index.get(k); ok {
			f.accs[i] = p.op.Combine(f.accs[i], a)
		} else {
			f.add(k, a)
		}
	}
	return nil
}

func (p *frameAccumulator[T, K, A, R]) FinishRestore() error {
	p.late.finishRestore()
	return nil
}

// combinerState is a key's frames as the combining stage saves them, with
// the watermark the key's windows were emitted up to: a sliding window's
// frames outlive the windows already emitted, and without it a restore
// would emit those again, from part of their frames. Older snapshots hold
// the frames alone (a map[int64]A); RestoreSnapshot reads both.
type combinerState[A any] struct {
	_msgpack struct{} `msgpack:",as_array"`
	Frames   map[int64]A
	Done     int64
}

// isArray reports whether value is a msgpack array (not a map).
func isArray(value []byte) bool {
	return len(value) > 0 && (value[0]&0xf0 == 0x90 || value[0] == 0xdc || value[0] == 0xdd)
}

// SaveSnapshot saves each key's frames.
func (p *frameCombiner[K, A, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.win.finishClose() {
		return false, nil
	}
	return true, p.win.snapshot(func(k K, frames map[int64]A, done int64) error {
		return dag.SaveEntry(w, k, combinerState[A]{Frames: frames, Done: done})
	})
}

func (p *frameCombiner[K, A, R]) RestoreSnapshot(key, value []byte) error {
	if !isArray(value) {
		k, fs, err := dag.LoadEntry[K, map[int64]A](key, value)
		if err != nil {
			return err
		}
		p.win.restore(k, fs, dag.MinWatermark)
		return nil
	}
	k, st, err := dag.LoadEntry[K, combinerState[A]](key, value)
	if err != nil {
		return err
	}
	p.win.restore(k, st.Frames, st.Done)
	return nil
}

func (p *frameCombiner[K, A, R]) FinishRestore() error {
	p.win.finishRestore()
	return nil
}

// sessionState is a session as snapshots keep it.
type sessionState[A any] struct {
	Start int64 `msgpack:"s"`
	End   int64 `msgpack:"e"`
	Acc   A     `msgpack:"a"`
}

type windowState[A any] struct {
	Frames   map[int64]A       `msgpack:"f,omitempty"`
	Sessions []sessionState[A] `msgpack:"s,omitempty"`
	// Done is the watermark the key's windows were emitted up to (see
	// combinerState); nil in older snapshots.
	Done *int64 `msgpack:"d,omitempty"`
}

// SaveSnapshot saves the watermark and each key's frames or sessions.
func (p *windowP[T, K, A, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.emit.drain() || !p.win.finishClose() {
		return false, nil
	}
	if err := p.late.save(w); err != nil {
		return false, err
	}
	if p.w.kind != winSession {
		return true, p.win.snapshot(func(k K, frames map[int64]A, done int64) error {
			return dag.SaveEntry(w, k, windowState[A]{Frames: frames, Done: &done})
		})
	}
	for k, ss := range p.sessions {
		var st windowState[A]
		for _, s := range ss {
			st.Sessions = append(st.Sessions, sessionState[A]{Start: s.start, End: s.end, Acc: s.acc})
		}
		if err := dag.SaveEntry(w, k, st); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *windowP[T, K, A, R]) RestoreSnapshot(key, value []byte) error {
	if isArray(value) {
		return p.late.restore(key, value)
	}
	k, st, err := dag.LoadEntry[K, windowState[A]](key, value)
	if err != nil {
		return err
	}
	if len(st.Frames) > 0 && p.w.kind != winSession {
		done := dag.MinWatermark
		if st.Done != nil {
			done = *st.Done
		}
		p.win.restore(k, st.Frames, done)
	}
	for _, s := range st.Sessions {
		p.sessions[k] = append(p.sessions[k], session[A]{start: s.Start, end: s.End, acc: s.Acc})
	}
	return nil
}

func (p *windowP[T, K, A, R]) FinishRestore() error {
	p.late.finishRestore()
	if p.w.kind != winSession {
		p.win.finishRestore()
	}
	return nil
}
