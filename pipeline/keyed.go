package pipeline

import (
	"container/heap"
	"strings"
	"time"

	"github.com/weir-dev/weir/dag"
)

// owned returns k ready to be kept in a processor's state, as a map key.
// A string item read from a distributed edge shares the memory of the
// whole message it arrived in (decoding does not copy): kept as a key,
// it would hold that message (some kilobytes) for as long as the key
// lives, and a million keys would hold gigabytes. So a string key is
// copied, once, when it enters the state. Keys of other types are kept as
// they are: fields of decoded structs have memory of their own.
func owned[K comparable](k K) K {
	if s, ok := any(&k).(*string); ok {
		*s = strings.Clone(*s)
	}
	return k
}

// KV is a key with a value: what keyed aggregations emit.
type KV[K comparable, V any] struct {
	Key   K `msgpack:"k"`
	Value V `msgpack:"v"`
}

// Keyed is a stage whose items are grouped by a key: the keyed operations
// that follow run each key on one instance in the cluster, next to the map
// partition owning that key.
type Keyed[T any, K comparable] struct {
	s   Stage[T]
	key func(T) K
}

// GroupBy groups a stage's items by key.
func GroupBy[T any, K comparable](s Stage[T], key func(T) K) Keyed[T, K] {
	return Keyed[T, K]{s: s, key: key}
}

// Identity is the key function of items that are their own key.
func Identity[T comparable](v T) T { return v }

// keyedInput connects a keyed stage's input on ordinal ord, partitioned by
// key across the cluster.
func keyedInput[T any, K comparable](c *compiler, n *node, input, ord int, key func(T) K) edgeConfig {
	e := c.input(n, input, ord)
	e.distributed()
	e.partitionBy(partitionByValue(key))
	return e
}

// AggregateByKey aggregates each key's items and emits one KV per key when
// its input is complete: a batch operation (on an unbounded stream it never
// emits; use Window). It runs in two stages: each instance accumulates its
// items by key, then the accumulators of a key are combined on the instance
// owning the key.
func AggregateByKey[T any, K comparable, A, R any](k Keyed[T, K], op AggregateOp[T, A, R]) Stage[KV[K, R]] {
	p := k.s.n.p
	acc := p.add("accumulate", []*node{k.s.n}, nil)
	acc.build = func(c *compiler) error {
		c.vertex(acc, func() dag.Processor { return &accumulateByKey[T, K, A, R]{key: k.key, op: op} })
		c.input(acc, 0, 0)
		return nil
	}
	newStage[KV[K, A]](acc)
	comb := p.add("combine", []*node{acc}, nil)
	comb.build = func(c *compiler) error {
		c.vertex(comb, func() dag.Processor { return &combineByKey[K, A, R]{combine: op.Combine, export: op.Export} })
		keyedInput(c, comb, 0, 0, func(kv KV[K, A]) K { return kv.Key })
		return nil
	}
	return newStage[KV[K, R]](comb)
}

type accumulateByKey[T any, K comparable, A, R any] struct {
	key  func(T) K
	op   AggregateOp[T, A, R]
	accs map[K]A
	out  *fanout[KV[K, A]]
	emit []KV[K, A]
}

func (p *accumulateByKey[T, K, A, R]) Init(ctx *dag.Context) (err error) {
	p.accs = map[K]A{}
	p.out, err = outputs[KV[K, A]](ctx)
	return err
}

func (p *accumulateByKey[T, K, A, R]) Process(_ int, in *dag.Inbox) error {
	for _, it := range dag.Items[Timed[T]](in) {
		k := p.key(it.V)
		a, ok := p.accs[k]
		if !ok {
			a, k = p.op.Create(), owned(k)
		}
		p.accs[k] = p.op.Accumulate(a, it.V)
	}
	in.Consume(in.Len())
	return nil
}

func (p *accumulateByKey[T, K, A, R]) Complete() (bool, error) {
	if p.emit == nil {
		p.emit = make([]KV[K, A], 0, len(p.accs))
		for k, a := range p.accs {
			p.emit = append(p.emit, KV[K, A]{k, a})
		}
		p.accs = nil
	}
	for len(p.emit) > 0 {
		if !p.out.Offer(Timed[KV[K, A]]{V: p.emit[0]}) {
			return false, nil
		}
		p.emit = p.emit[1:]
	}
	return true, nil
}

type combineByKey[K comparable, A, R any] struct {
	combine func(a, b A) A
	export  func(A) R
	accs    map[K]A
	out     *fanout[KV[K, R]]
	emit    []KV[K, R]
}

func (p *combineByKey[K, A, R]) Init(ctx *dag.Context) (err error) {
	p.accs = map[K]A{}
	p.out, err = outputs[KV[K, R]](ctx)
	return err
}

func (p *combineByKey[K, A, R]) Process(_ int, in *dag.Inbox) error {
	for _, it := range dag.Items[Timed[KV[K, A]]](in) {
		if a, ok := p.accs[it.V.Key]; ok {
			p.accs[it.V.Key] = p.combine(a, it.V.Value)
		} else {
			p.accs[it.V.Key] = it.V.Value
		}
	}
	in.Consume(in.Len())
	return nil
}

func (p *combineByKey[K, A, R]) Complete() (bool, error) {
	if p.emit == nil {
		p.emit = make([]KV[K, R], 0, len(p.accs))
		for k, a := range p.accs {
			p.emit = append(p.emit, KV[K, R]{k, p.export(a)})
		}
		p.accs = nil
	}
	for len(p.emit) > 0 {
		if !p.out.Offer(Timed[KV[K, R]]{V: p.emit[0]}) {
			return false, nil
		}
		p.emit = p.emit[1:]
	}
	return true, nil
}

// RollingAggregate emits, for every item, the aggregate of its key's items
// so far (a running total per key).
func RollingAggregate[T any, K comparable, A, R any](k Keyed[T, K], op AggregateOp[T, A, R]) Stage[KV[K, R]] {
	return MapStateful(k, op.Create, func(acc *A, key K, item T) (KV[K, R], bool) {
		*acc = op.Accumulate(*acc, item)
		return KV[K, R]{key, op.Export(*acc)}, true
	})
}

// StatefulOption configures MapStateful.
type StatefulOption[K comparable, S, R any] func(*statefulConfig[K, S, R])

type statefulConfig[K comparable, S, R any] struct {
	ttl     time.Duration
	onEvict func(state *S, key K, wm time.Time) (R, bool)
}

// StateTTL drops a key's state once the watermark passes ttl after its last
// item (event time), calling onEvict first if given; onEvict may emit a
// last result. Without a TTL, state lives as long as the job.
func StateTTL[K comparable, S, R any](ttl time.Duration, onEvict func(state *S, key K, wm time.Time) (R, bool)) StatefulOption[K, S, R] {
	return func(c *statefulConfig[K, S, R]) { c.ttl, c.onEvict = ttl, onEvict }
}

// MapStateful transforms items with per-key state: fn receives the key's
// state (created by create on the key's first item), the key and the item,
// and may update the state and emit a result.
func MapStateful[T any, K comparable, S, R any](k Keyed[T, K], create func() S, fn func(state *S, key K, item T) (R, bool), opts ...StatefulOption[K, S, R]) Stage[R] {
	var cfg statefulConfig[K, S, R]
	for _, o := range opts {
		o(&cfg)
	}
	n := k.s.n.p.add("map-stateful", []*node{k.s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor {
			return &mapStatefulP[T, K, S, R]{key: k.key, create: create, fn: fn, cfg: cfg}
		})
		keyedInput(c, n, 0, 0, k.key)
		return nil
	}
	return newStage[R](n)
}

type keyState[S any] struct {
	s       S
	last    int64  // event time of the key's last item
	version uint64 // bumped on every item: stale expiry entries are skipped
}

type mapStatefulP[T any, K comparable, S, R any] struct {
	key     func(T) K
	create  func() S
	fn      func(*S, K, T) (R, bool)
	cfg     statefulConfig[K, S, R]
	states  map[K]*keyState[S]
	expiry  expiryHeap[K]
	out     *fanout[R]
	pending []Timed[R]
}

func (p *mapStatefulP[T, K, S, R]) Init(ctx *dag.Context) (err error) {
	p.states = map[K]*keyState[S]{}
	p.out, err = outputs[R](ctx)
	return err
}

func (p *mapStatefulP[T, K, S, R]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(p.pending[0]) {
			return false
		}
		p.pending = p.pending[1:]
	}
	return true
}

func (p *mapStatefulP[T, K, S, R]) Process(_ int, in *dag.Inbox) error {
	if !p.drain() {
		return nil
	}
	items := dag.Items[Timed[T]](in)
	for i, it := range items {
		k := p.key(it.V)
		st, ok := p.states[k]
		if !ok {
			k = owned(k)
			st = &keyState[S]{s: p.create()}
			p.states[k] = st
		}
		st.last = max(st.last, it.TS)
		st.version++
		if p.cfg.ttl > 0 {
			pushExpiry(&p.expiry, expiryEntry[K]{at: st.last + int64(p.cfg.ttl), key: k, version: st.version})
		}
		if r, emit := p.fn(&st.s, k, it.V); emit {
			if !p.out.Offer(Timed[R]{TS: it.TS, V: r}) {
				p.pending = append(p.pending, Timed[R]{TS: it.TS, V: r})
				in.Consume(i + 1)
				return nil
			}
		}
	}
	in.Consume(len(items))
	return nil
}

// ProcessWatermark evicts the states whose TTL the watermark passed.
func (p *mapStatefulP[T, K, S, R]) ProcessWatermark(wm int64) (bool, error) {
	if !p.drain() {
		return false, nil
	}
	for p.expiry.Len() > 0 && p.expiry.entries[0].at < wm {
		e := heap.Pop(&p.expiry).(expiryEntry[K])
		st, ok := p.states[e.key]
		if !ok || st.version != e.version {
			continue // updated since: a later entry covers it
		}
		delete(p.states, e.key)
		if p.cfg.onEvict != nil {
			if r, emit := p.cfg.onEvict(&st.s, e.key, time.Unix(0, wm)); emit {
				p.pending = append(p.pending, Timed[R]{TS: wm, V: r})
				if !p.drain() {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

func (p *mapStatefulP[T, K, S, R]) Complete() (bool, error) { return p.drain(), nil }

func pushExpiry[K comparable](h *expiryHeap[K], e expiryEntry[K]) { heap.Push(h, e) }

type expiryEntry[K comparable] struct {
	at      int64
	key     K
	version uint64
}

// expiryHeap orders state expiries, earliest first.
type expiryHeap[K comparable] struct{ entries []expiryEntry[K] }

func (h *expiryHeap[K]) Len() int           { return len(h.entries) }
func (h *expiryHeap[K]) Less(i, j int) bool { return h.entries[i].at < h.entries[j].at }
func (h *expiryHeap[K]) Swap(i, j int)      { h.entries[i], h.entries[j] = h.entries[j], h.entries[i] }
func (h *expiryHeap[K]) Push(x any)         { h.entries = append(h.entries, x.(expiryEntry[K])) }
func (h *expiryHeap[K]) Pop() any {
	e := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	return e
}

// Distinct passes on the first item of every key and drops the others.
func Distinct[T any, K comparable](k Keyed[T, K]) Stage[T] {
	return MapStateful(k, func() bool { return false }, func(seen *bool, _ K, item T) (T, bool) {
		if *seen {
			return item, false
		}
		*seen = true
		return item, true
	})
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
