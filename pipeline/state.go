package pipeline

import (
	"fmt"
	"maps"

	"github.com/weir-dev/weir/dag"
)

// Snapshot state of the pipeline's processors. Keyed state is saved under
// its key, so a restart on another number of members restores it to the
// instance that receives the key's items; source positions are broadcast,
// each instance keeping the partitions it reads.

// SaveSnapshot saves the reader's positions.
func (p *sourceP[T]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	pr, ok := p.r.(Positioned)
	if !ok {
		return true, nil
	}
	// Items read but not yet emitted are read again after a restore.
	if p.pos < len(p.buf) {
		return false, nil // emit them first: positions are past them
	}
	positions, err := pr.Positions()
	if err != nil {
		return false, fmt.Errorf("source %s: %w", p.src.name, err)
	}
	for part, pos := range positions {
		if err := dag.SaveBroadcast(w, part, pos); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *sourceP[T]) RestoreSnapshot(key, value []byte) error {
	part, pos, err := dag.LoadEntry[string, []byte](key, value)
	if err != nil {
		return err
	}
	if p.restored == nil {
		p.restored = map[string][]byte{}
	}
	p.restored[part] = pos
	return nil
}

func (p *sourceP[T]) FinishRestore() error {
	pr, ok := p.r.(Positioned)
	if !ok || p.restored == nil {
		return nil
	}
	err := pr.Seek(p.restored)
	p.restored = nil
	if err != nil {
		return fmt.Errorf("source %s: %w", p.src.name, err)
	}
	return nil
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
		if i, ok := f.index[k]; ok {
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

// SaveSnapshot saves each key's accumulator.
func (p *accumulateByKey[T, K, A, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	for k, a := range p.accs {
		if err := dag.SaveEntry(w, k, a); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *accumulateByKey[T, K, A, R]) RestoreSnapshot(key, value []byte) error {
	k, a, err := dag.LoadEntry[K, A](key, value)
	if err != nil {
		return err
	}
	if old, ok := p.accs[k]; ok {
		a = p.op.Combine(old, a)
	}
	p.accs[k] = a
	return nil
}

// SaveSnapshot saves each key's combined accumulator.
func (p *combineByKey[K, A, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	for k, a := range p.accs {
		if err := dag.SaveEntry(w, k, a); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *combineByKey[K, A, R]) RestoreSnapshot(key, value []byte) error {
	k, a, err := dag.LoadEntry[K, A](key, value)
	if err != nil {
		return err
	}
	p.accs[k] = a
	return nil
}

// statefulState is a key's state as snapshots keep it.
type statefulState[S any] struct {
	S    S     `msgpack:"s"`
	Last int64 `msgpack:"l"`
}

// SaveSnapshot saves each key's state.
func (p *mapStatefulP[T, K, S, R]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	for k, st := range p.states {
		if err := dag.SaveEntry(w, k, statefulState[S]{S: st.s, Last: st.last}); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *mapStatefulP[T, K, S, R]) RestoreSnapshot(key, value []byte) error {
	k, st, err := dag.LoadEntry[K, statefulState[S]](key, value)
	if err != nil {
		return err
	}
	ks := &keyState[S]{s: st.S, last: st.Last, version: 1}
	p.states[k] = ks
	if p.cfg.ttl > 0 {
		p.expiry.Push(expiryEntry[K]{at: st.Last + int64(p.cfg.ttl), key: k, version: 1})
	}
	return nil
}

func (p *mapStatefulP[T, K, S, R]) FinishRestore() error {
	h := p.expiry.entries
	p.expiry.entries = nil
	for _, e := range h {
		pushExpiry(&p.expiry, e)
	}
	return nil
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

// SaveSnapshot saves the items collected so far.
func (p *sortP[T]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if p.sorted {
		return true, nil
	}
	return true, dag.SaveBroadcast(w, p.ctxIndex, p.items)
}

func (p *sortP[T]) RestoreSnapshot(key, value []byte) error {
	// Every instance gets the broadcast entries; only the one all items
	// meet on (global instance 0) keeps them, or each member's would emit
	// them again.
	if p.ctxIndex != 0 {
		return nil
	}
	_, items, err := dag.LoadEntry[int, []Timed[T]](key, value)
	if err != nil {
		return err
	}
	p.items = append(p.items, items...)
	return nil
}

// SaveSnapshot waits for the calls in flight: their results must be
// emitted before the barrier, or they would be lost with the calls.
func (p *asyncP[T, R]) SaveSnapshot(*dag.SnapshotWriter) (bool, error) {
	if _, err := p.collect(); err != nil {
		return false, err
	}
	return p.inFlight == 0 && len(p.emitting) == 0, nil
}

func (p *asyncP[T, R]) RestoreSnapshot([]byte, []byte) error { return nil }

// SaveSnapshot saves each key's frames of both sides.
func (p *windowJoinP[L, R, K, O]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	type side struct {
		Ls []L `msgpack:"l"`
		Rs []R `msgpack:"r"`
	}
	for k, fs := range p.frames {
		st := map[int64]side{}
		for end, g := range fs {
			st[end] = side{Ls: g.ls, Rs: g.rs}
		}
		if err := dag.SaveEntry(w, k, st); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *windowJoinP[L, R, K, O]) RestoreSnapshot(key, value []byte) error {
	type side struct {
		Ls []L `msgpack:"l"`
		Rs []R `msgpack:"r"`
	}
	k, st, err := dag.LoadEntry[K, map[int64]side](key, value)
	if err != nil {
		return err
	}
	fs := p.frameSet(k)
	for end, s := range maps.All(st) {
		g := fs[end]
		g.ls, g.rs = append(g.ls, s.Ls...), append(g.rs, s.Rs...)
		fs[end] = g
	}
	return nil
}
