package pipeline

import (
	"fmt"
	"math"
	"slices"

	"github.com/weir-dev/weir/dag"
)

// HashJoin joins each item of a stream with the items of a batch side that
// have the same key. The batch side is read completely first (its edge has
// priority) and broadcast to every instance, which keeps it in a hash table;
// the stream then flows through without moving between members. join is
// called once per matching pair, or once with ok false when nothing matches
// (return false to drop the item: an inner join).
func HashJoin[T any, K comparable, U, R any](stream Stage[T], build Stage[U], key func(T) K, buildKey func(U) K, join func(item T, match U, ok bool) (R, bool)) Stage[R] {
	n := stream.n.p.add("hash-join", []*node{build.n, stream.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &hashJoinP[T, K, U, R]{key: key, buildKey: buildKey, join: join} })
		b := c.input(n, 0, 0)
		b.distributed()
		b.broadcast()
		b.priority(0)
		c.input(n, 1, 1).priority(1)
		return nil
	}
	return newStage[R](n)
}

type hashJoinP[T any, K comparable, U, R any] struct {
	ctx      *dag.Context
	key      func(T) K
	buildKey func(U) K
	join     func(T, U, bool) (R, bool)
	table    map[K][]U
	out      *fanout[R]
	pending  []Timed[R]
}

func (p *hashJoinP[T, K, U, R]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	p.table = map[K][]U{}
	p.out, err = outputs[R](ctx)
	return err
}

func (p *hashJoinP[T, K, U, R]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(p.pending[0]) {
			return false
		}
		p.pending = p.pending[1:]
	}
	return true
}

func (p *hashJoinP[T, K, U, R]) Process(ordinal int, in *dag.Inbox) error {
	if ordinal == 0 {
		for _, it := range dag.Items[Timed[U]](in) {
			k := p.buildKey(it.V)
			p.table[k] = append(p.table[k], it.V)
		}
		in.Consume(in.Len())
		return nil
	}
	if !p.drain() {
		return nil
	}
	items := dag.Items[Timed[T]](in)
	for i, it := range items {
		matches := p.table[p.key(it.V)]
		if len(matches) == 0 {
			var zero U
			if r, ok := p.join(it.V, zero, false); ok {
				p.pending = append(p.pending, Timed[R]{TS: it.TS, V: r})
			}
		}
		for _, u := range matches {
			if r, ok := p.join(it.V, u, true); ok {
				p.pending = append(p.pending, Timed[R]{TS: it.TS, V: r})
			}
		}
		if !p.drain() {
			in.Consume(i + 1)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *hashJoinP[T, K, U, R]) Complete() (bool, error) { return p.drain(), nil }

// HashJoin2 joins a stream with two batch sides at once: join receives the
// matches of both sides (possibly none).
func HashJoin2[T any, K1, K2 comparable, U1, U2, R any](stream Stage[T], build1 Stage[U1], key1 func(T) K1, buildKey1 func(U1) K1,
	build2 Stage[U2], key2 func(T) K2, buildKey2 func(U2) K2, join func(item T, m1 []U1, m2 []U2) (R, bool)) Stage[R] {
	n := stream.n.p.add("hash-join", []*node{build1.n, build2.n, stream.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor {
			return &hashJoin2P[T, K1, K2, U1, U2, R]{key1: key1, key2: key2, bk1: buildKey1, bk2: buildKey2, join: join}
		})
		for i := range 2 {
			b := c.input(n, i, i)
			b.distributed()
			b.broadcast()
			b.priority(0)
		}
		c.input(n, 2, 2).priority(1)
		return nil
	}
	return newStage[R](n)
}

type hashJoin2P[T any, K1, K2 comparable, U1, U2, R any] struct {
	ctx  *dag.Context
	key1 func(T) K1
	key2 func(T) K2
	bk1  func(U1) K1
	bk2  func(U2) K2
	join func(T, []U1, []U2) (R, bool)
	t1   map[K1][]U1
	t2   map[K2][]U2
	out  *fanout[R]
	held *Timed[R]
}

func (p *hashJoin2P[T, K1, K2, U1, U2, R]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	p.t1, p.t2 = map[K1][]U1{}, map[K2][]U2{}
	p.out, err = outputs[R](ctx)
	return err
}

func (p *hashJoin2P[T, K1, K2, U1, U2, R]) Process(ordinal int, in *dag.Inbox) error {
	switch ordinal {
	case 0:
		for _, it := range dag.Items[Timed[U1]](in) {
			k := p.bk1(it.V)
			p.t1[k] = append(p.t1[k], it.V)
		}
	case 1:
		for _, it := range dag.Items[Timed[U2]](in) {
			k := p.bk2(it.V)
			p.t2[k] = append(p.t2[k], it.V)
		}
	case 2:
		if !p.drain() {
			return nil
		}
		items := dag.Items[Timed[T]](in)
		for i, it := range items {
			r, ok := p.join(it.V, p.t1[p.key1(it.V)], p.t2[p.key2(it.V)])
			if ok && !p.out.Offer(Timed[R]{TS: it.TS, V: r}) {
				p.held = &Timed[R]{TS: it.TS, V: r}
				in.Consume(i + 1)
				return nil
			}
		}
	default:
		return fmt.Errorf("hash join: unexpected input %d", ordinal)
	}
	in.Consume(in.Len())
	return nil
}

func (p *hashJoin2P[T, K1, K2, U1, U2, R]) drain() bool {
	if p.held != nil {
		if !p.out.Offer(*p.held) {
			return false
		}
		p.held = nil
	}
	return true
}

func (p *hashJoin2P[T, K1, K2, U1, U2, R]) Complete() (bool, error) { return p.drain(), nil }

// WindowJoin joins two keyed streams within windows: when the watermark
// passes a window's end, join receives, for every key with items on either
// side in that window, the items of both sides, and its results are
// emitted. Both sides are partitioned by key across the cluster. ls and rs
// hold the key's items in the order they arrived, frame by frame, nil for
// a side with none; join may keep them (appending to one does not touch
// other keys' items).
func WindowJoin[L any, R any, K comparable, O any](left Keyed[L, K], right Keyed[R, K], w WindowDef, join func(key K, start, end int64, ls []L, rs []R) []O) Stage[O] {
	p := left.s.n.p
	if err := w.validate(); err != nil {
		p.errs = append(p.errs, err)
	}
	if w.kind != winSliding {
		p.errs = append(p.errs, fmt.Errorf("WindowJoin takes tumbling or sliding windows"))
	}
	n := p.add("window-join", []*node{left.s.n, right.s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor {
			return &windowJoinP[L, R, K, O]{lkey: left.key, rkey: right.key, w: w, join: join}
		})
		keyedInput(c, n, 0, 0, left.key)
		keyedInput(c, n, 1, 1, right.key)
		return nil
	}
	return newStage[O](n)
}

// joinLog is a window join's items of one frame (or one window), both
// sides in arrival order, each with the position of its key in the
// frame's keys. Appending to it allocates nothing once a frame's memory
// is reused; a key's items are gathered when its window is joined.
type joinLog[L, R any] struct {
	ls   []L
	lpos []int32
	rs   []R
	rpos []int32
}

func (g *joinLog[L, R]) reset() {
	clear(g.ls)
	clear(g.rs)
	g.ls, g.lpos, g.rs, g.rpos = g.ls[:0], g.lpos[:0], g.rs[:0], g.rpos[:0]
}

// joinFrame is one frame of a window join: its keys, indexed, and its items.
type joinFrame[K comparable, L, R any] = accFrame[K, struct{}, joinLog[L, R]]

// windowJoinP keeps its items by frame, as the accumulating stage of a
// window aggregation does: a watermark visits only the frames it closes,
// not every key held (items of later windows can be many: one side's
// source may run ahead of the other's).
type windowJoinP[L, R any, K comparable, O any] struct {
	lkey    func(L) K
	rkey    func(R) K
	w       WindowDef
	join    func(K, int64, int64, []L, []R) []O
	frames  accFrames[K, struct{}, joinLog[L, R]]
	win     joinFrame[K, L, R] // a window's keys and items, when it spans several frames
	offs    []int32            // scratch of byKey
	late    [2]lateOutput[struct{}]
	done    int64
	out     *fanout[O]
	pending []Timed[O]
}

func (p *windowJoinP[L, R, K, O]) Init(ctx *dag.Context) (err error) {
	p.frames.slide = p.w.slide
	p.win.index.init()
	p.done = dag.MinWatermark
	p.out, err = outputs[O](ctx)
	for i := range p.late {
		p.late[i].wm, p.late[i].restored = dag.MinWatermark, math.MaxInt64
		p.late[i].index = ctx.GlobalIndex
		p.late[i].count = ctx.Counter("late")
		p.late[i].out = &fanout[struct{}]{}
	}
	return err
}

func (p *windowJoinP[L, R, K, O]) Process(ordinal int, in *dag.Inbox) error {
	if ordinal == 0 {
		for _, it := range dag.Items[Timed[L]](in) {
			if late, _ := p.late[0].late(Timed[struct{}]{TS: it.TS}); late {
				continue
			}
			f, j := p.keyAt(it.TS, p.lkey(it.V))
			f.x.ls, f.x.lpos = append(f.x.ls, it.V), append(f.x.lpos, j)
		}
	} else {
		for _, it := range dag.Items[Timed[R]](in) {
			if late, _ := p.late[1].late(Timed[struct{}]{TS: it.TS}); late {
				continue
			}
			f, j := p.keyAt(it.TS, p.rkey(it.V))
			f.x.rs, f.x.rpos = append(f.x.rs, it.V), append(f.x.rpos, j)
		}
	}
	in.Consume(in.Len())
	return nil
}

// keyAt returns the frame holding time ts and k's position in it.
func (p *windowJoinP[L, R, K, O]) keyAt(ts int64, k K) (*joinFrame[K, L, R], int32) {
	f := p.frames.at(ts)
	j, ok := f.index.get(k)
	if !ok {
		j = int32(len(f.keys))
		f.add(k, struct{}{})
	}
	return f, j
}

func (p *windowJoinP[L, R, K, O]) ProcessWatermark(wm int64) (bool, error) {
	p.late[0].wm, p.late[1].wm = wm, wm
	return p.closeUpTo(wm), nil
}

func (p *windowJoinP[L, R, K, O]) Complete() (bool, error) {
	return p.closeUpTo(1<<62 - p.w.size), nil
}

// closeUpTo joins every window ending after the last watermark and at
// most at upTo that holds items, then drops the frames no later window
// needs.
func (p *windowJoinP[L, R, K, O]) closeUpTo(upTo int64) bool {
	if !p.drain() {
		return false
	}
	if upTo <= p.done {
		return true
	}
	open := p.frames.open
	if len(open) > 0 {
		// Window e holds the frames ending in (e-size, e].
		e := open[0].end
		if p.done >= e { // (frameEnd of MinWatermark would overflow)
			e = frameEnd(p.done, p.w.slide)
		}
		first := 0 // the first frame of window e
		for e <= upTo {
			for first < len(open) && open[first].end <= e-p.w.size {
				first++
			}
			if first == len(open) {
				break
			}
			if open[first].end > e { // no frame in window e: on to the next that has one
				e = open[first].end
				continue
			}
			last := first + 1
			for last < len(open) && open[last].end <= e {
				last++
			}
			p.joinWindow(e, open[first:last])
			e += p.w.slide
		}
	}
	// Frames ending at or before next-size are in no window after upTo.
	for next := frameEnd(upTo, p.w.slide); len(p.frames.open) > 0 && p.frames.open[0].end <= next-p.w.size; {
		p.frames.dropFirst()
	}
	p.done = upTo
	return p.drain()
}

// joinWindow joins window [end-size, end), whose frames are fs (ascending).
func (p *windowJoinP[L, R, K, O]) joinWindow(end int64, fs []*joinFrame[K, L, R]) {
	f := fs[0]
	if len(fs) > 1 {
		// The window's keys, and its items in the frames' order, each with
		// its key's position among the window's keys.
		f = &p.win
		var pos []int32
		for _, ff := range fs {
			pos = pos[:0]
			for _, k := range ff.keys {
				j, ok := f.index.get(k)
				if !ok {
					j = int32(len(f.keys))
					f.index.put(k, j)
					f.keys = append(f.keys, k)
				}
				pos = append(pos, j)
			}
			f.x.ls = append(f.x.ls, ff.x.ls...)
			for _, j := range ff.x.lpos {
				f.x.lpos = append(f.x.lpos, pos[j])
			}
			f.x.rs = append(f.x.rs, ff.x.rs...)
			for _, j := range ff.x.rpos {
				f.x.rpos = append(f.x.rpos, pos[j])
			}
		}
		defer func() {
			f.index.reset()
			clear(f.keys)
			f.keys = f.keys[:0]
			f.x.reset()
		}()
	}
	ls, loff := byKey(f.x.ls, f.x.lpos, len(f.keys), p.offs)
	rs, roff := byKey(f.x.rs, f.x.rpos, len(f.keys), nil)
	p.offs = loff
	for i, k := range f.keys {
		out := p.join(k, end-p.w.size, end, keyItems(ls, loff, i), keyItems(rs, roff, i))
		for _, o := range out {
			p.pending = append(p.pending, Timed[O]{TS: end, V: o})
		}
	}
}

// byKey orders items by their keys' positions (pos), keeping their order
// within a key, in a new slice: key i's items end at ends[i] and start
// where key i-1's end.
func byKey[T any](items []T, pos []int32, keys int, ends []int32) (byKey []T, _ []int32) {
	ends = slices.Grow(ends[:0], keys)[:keys]
	clear(ends)
	for _, j := range pos {
		ends[j]++
	}
	var n int32
	for i, c := range ends {
		ends[i] = n // key i's start, until its items are placed
		n += c
	}
	byKey = make([]T, len(items))
	for i, j := range pos {
		byKey[ends[j]] = items[i]
		ends[j]++
	}
	return byKey, ends
}

// keyItems is key i's items in a slice ordered by byKey, nil if it has
// none; appending to it leaves the next key's alone.
func keyItems[T any](byKey []T, ends []int32, i int) []T {
	start := int32(0)
	if i > 0 {
		start = ends[i-1]
	}
	if start == ends[i] {
		return nil
	}
	return byKey[start:ends[i]:ends[i]]
}

func (p *windowJoinP[L, R, K, O]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(p.pending[0]) {
			return false
		}
		p.pending = p.pending[1:]
	}
	p.pending = nil
	return true
}

// SaveSnapshot saves the build side's table; every instance has all of it,
// so each saves the keys of its share and a restore gives every instance
// the whole table back (broadcast entries).
func (p *hashJoinP[T, K, U, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	if p.ctx.GlobalIndex != 0 {
		return true, nil // one copy is enough: instance 0 saves the table
	}
	for k, us := range p.table {
		if err := dag.SaveBroadcast(w, k, us); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *hashJoinP[T, K, U, R]) RestoreSnapshot(key, value []byte) error {
	k, us, err := dag.LoadEntry[K, []U](key, value)
	if err != nil {
		return err
	}
	p.table[k] = us
	return nil
}

// join2Key and join2Val are a saved entry of a two-sided hash join's
// tables: Side 1 is the first build side (K1, A), 2 the second (K2, B).
type join2Key[K1, K2 any] struct {
	Side uint8 `msgpack:"s"`
	K1   K1    `msgpack:"a,omitempty"`
	K2   K2    `msgpack:"b,omitempty"`
}

type join2Val[U1, U2 any] struct {
	A []U1 `msgpack:"a,omitempty"`
	B []U2 `msgpack:"b,omitempty"`
}

// SaveSnapshot saves both build sides' tables, as hashJoinP does its one.
func (p *hashJoin2P[T, K1, K2, U1, U2, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	if p.ctx.GlobalIndex != 0 {
		return true, nil // one copy is enough: instance 0 saves the tables
	}
	for k, us := range p.t1 {
		if err := dag.SaveBroadcast(w, join2Key[K1, K2]{Side: 1, K1: k}, join2Val[U1, U2]{A: us}); err != nil {
			return false, err
		}
	}
	for k, us := range p.t2 {
		if err := dag.SaveBroadcast(w, join2Key[K1, K2]{Side: 2, K2: k}, join2Val[U1, U2]{B: us}); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *hashJoin2P[T, K1, K2, U1, U2, R]) RestoreSnapshot(key, value []byte) error {
	k, v, err := dag.LoadEntry[join2Key[K1, K2], join2Val[U1, U2]](key, value)
	if err != nil {
		return err
	}
	switch k.Side {
	case 1:
		p.t1[k.K1] = v.A
	case 2:
		p.t2[k.K2] = v.B
	default:
		return fmt.Errorf("hash join: saved entry of side %d", k.Side)
	}
	return nil
}

// joinSide is one key's items of both sides in one frame, as a window
// join saves them.
type joinSide[L, R any] struct {
	Ls []L `msgpack:"l"`
	Rs []R `msgpack:"r"`
}

// SaveSnapshot saves each key's frames of both sides: one entry per key,
// its items by frame end; and the watermark, up to which windows were
// joined: a sliding window's frames outlive the windows already joined,
// which a restore must not join again from part of their frames.
func (p *windowJoinP[L, R, K, O]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	if err := p.late[0].save(w); err != nil {
		return false, err
	}
	keys := map[K]map[int64]joinSide[L, R]{}
	for _, f := range p.frames.open {
		ls, loff := byKey(f.x.ls, f.x.lpos, len(f.keys), nil)
		rs, roff := byKey(f.x.rs, f.x.rpos, len(f.keys), nil)
		for i, k := range f.keys {
			st := keys[k]
			if st == nil {
				st = map[int64]joinSide[L, R]{}
				keys[k] = st
			}
			st[f.end] = joinSide[L, R]{Ls: keyItems(ls, loff, i), Rs: keyItems(rs, roff, i)}
		}
	}
	for k, st := range keys {
		if err := dag.SaveEntry(w, k, st); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *windowJoinP[L, R, K, O]) RestoreSnapshot(key, value []byte) error {
	if isArray(value) {
		return p.late[0].restore(key, value)
	}
	k, st, err := dag.LoadEntry[K, map[int64]joinSide[L, R]](key, value)
	if err != nil {
		return err
	}
	for end, s := range st {
		f, j := p.keyAt(end-1, k)
		for _, v := range s.Ls {
			f.x.ls, f.x.lpos = append(f.x.ls, v), append(f.x.lpos, j)
		}
		for _, v := range s.Rs {
			f.x.rs, f.x.rpos = append(f.x.rs, v), append(f.x.rpos, j)
		}
	}
	return nil
}

// FinishRestore resumes from the lowest watermark the instances had
// reached (see lateOutput.finishRestore): windows up to it were joined.
func (p *windowJoinP[L, R, K, O]) FinishRestore() error {
	p.late[0].finishRestore()
	p.late[1].wm = p.late[0].wm
	p.done = max(p.done, p.late[0].wm)
	return nil
}
