package dag

import (
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
)

// target is one queue an output pushes to: a local consumer instance, or the
// sender of a distributed edge, with the instance on the receiving member
// that partitioned batches are for.
type target struct {
	q    *queue
	dest int
}

// route is how one producer instance's output on one edge reaches the
// consumers, computed by the execution plan.
type route struct {
	edge    *edge
	targets []target
	// partTarget maps a partition to an index in targets, for partitioned
	// edges; nil otherwise.
	partTarget []int
	// ctrlOnly are queues that get control items but no data (the
	// instances an all-to-one edge does not feed).
	ctrlOnly   []target
	partitions int // the cluster's partition count
	broadcast  bool
	start      int // first target tried by unicast, to spread producers
}

// output is one producer instance's side of one outbound edge.
type output interface {
	// flush pushes buffered items; false if a queue was full.
	flush() bool
	// emitControl flushes, then delivers a control item to every target;
	// false if not yet done (call again: it resumes).
	emitControl(c control) bool
	// emitted counts items offered, for metrics, from any goroutine; it
	// lags offeredItems, which only the producer reads, by less than a flush.
	emitted() int64
	offeredItems() int64
}

// Emitter offers items of type T to one outbound edge of a processor.
// Offer never blocks: it returns false when the edge's queues are full, and
// the processor must stop and return; it is called again later. Obtain it
// with Output in Init.
type Emitter[T any] struct {
	o *outputT[T]
}

// Output returns the emitter for outbound edge ordinal of the processor's
// vertex. The edge must carry items of type T.
func Output[T any](ctx *Context, ordinal int) (*Emitter[T], error) {
	if ordinal < 0 || ordinal >= len(ctx.outputs) {
		return nil, fmt.Errorf("vertex %q has no outbound edge %d", ctx.Vertex, ordinal)
	}
	o, ok := ctx.outputs[ordinal].(*outputT[T])
	if !ok {
		return nil, fmt.Errorf("vertex %q: outbound edge %d carries %s, not %s", ctx.Vertex, ordinal, ctx.outputTypes[ordinal], reflect.TypeFor[T]())
	}
	return &Emitter[T]{o: o}, nil
}

// Outputs is the number of outbound edges of the processor's vertex: Output
// takes the ordinals 0 to Outputs()-1.
func (c *Context) Outputs() int { return len(c.outputs) }

// Offer adds v to the edge; false means the edge is full and v was not
// taken.
func (e *Emitter[T]) Offer(v T) bool {
	o := e.o
	if o.part == nil {
		if o.cur == nil {
			o.cur = o.et.get(o.limit)
		} else if len(o.cur.items) >= o.limit {
			if !o.flush() {
				return false
			}
			o.cur = o.et.get(o.limit)
		}
		o.cur.items = append(o.cur.items, v)
		o.offered++
		return true
	}
	t := o.partTarget[o.part(v)]
	b := o.bufs[t]
	if b == nil {
		b = o.et.get(o.limit)
		o.bufs[t] = b
	} else if len(b.items) >= o.limit {
		if !o.flushTarget(t) {
			return false
		}
		b = o.et.get(o.limit)
		o.bufs[t] = b
	}
	b.items = append(b.items, v)
	o.offered++
	return true
}

// Space returns room in the edge's current batch for up to n items, to be
// filled directly and then published with Commit: a fast path for
// processors that emit many items at once, with no call per item. It
// returns an empty slice when the edge is full, and nil for partitioned
// edges, where each item's destination depends on its key: use Offer.
func (e *Emitter[T]) Space(n int) []T {
	o := e.o
	if o.part != nil {
		return nil
	}
	if o.cur == nil {
		o.cur = o.et.get(o.limit)
	} else if len(o.cur.items) >= o.limit {
		if !o.flush() {
			return o.cur.items[:0:0]
		}
		o.cur = o.et.get(o.limit)
	}
	items := o.cur.items
	k := min(n, o.limit-len(items))
	return items[len(items) : len(items)+k]
}

// Commit publishes the first k items written into the slice Space returned.
func (e *Emitter[T]) Commit(k int) {
	o := e.o
	o.cur.items = o.cur.items[:len(o.cur.items)+k]
	o.offered += int64(k)
}

// outputT is a typed output. It is used by one producer goroutine only;
// count is atomic for metrics readers.
type outputT[T any] struct {
	et      *typedEdge[T]
	limit   int
	targets []target

	// Unicast, isolated, broadcast: one buffer.
	cur  *batch[T]
	next int
	sent []bool // broadcast: targets that already have cur

	// Partitioned and all-to-one: one buffer per target.
	part       func(T) int
	partTarget []int
	bufs       []*batch[T]

	// ctrl lists every distinct queue: control items go to each once
	// (several partitioned targets can share a sender's queue).
	ctrl     []*queue
	ctrlSent []bool // emitControl progress, by index in ctrl
	// offered counts items taken by Offer, for the owning tasklet; count
	// publishes it to metrics readers once per flush, keeping atomic
	// operations off the per-item path.
	offered int64
	count   atomic.Int64
}

func (t *typedEdge[T]) newOutput(r *route) output {
	o := &outputT[T]{et: t, limit: r.edge.batchSize, targets: r.targets, next: r.start}
	if r.broadcast {
		o.sent = make([]bool, len(r.targets))
	}
	if r.partTarget != nil {
		o.partTarget = r.partTarget
		o.bufs = make([]*batch[T], len(r.targets))
		o.part = t.newPartitionFn(r.partitions)
	}
	seen := map[*queue]bool{}
	for _, t := range append(slices.Clone(r.targets), r.ctrlOnly...) {
		if !seen[t.q] {
			seen[t.q] = true
			o.ctrl = append(o.ctrl, t.q)
		}
	}
	o.ctrlSent = make([]bool, len(o.ctrl))
	return o
}

func (o *outputT[T]) emitted() int64 { return o.count.Load() }

func (o *outputT[T]) offeredItems() int64 { return o.offered }

func (o *outputT[T]) flush() bool {
	if o.count.Load() != o.offered {
		o.count.Store(o.offered)
	}
	if o.part != nil {
		ok := true
		for t := range o.bufs {
			if !o.flushTarget(t) {
				ok = false
			}
		}
		return ok
	}
	if o.cur == nil || len(o.cur.items) == 0 {
		return true
	}
	if len(o.targets) == 0 {
		// A vertex output nobody consumes: items are dropped.
		o.et.recycle(o.cur)
		o.cur = nil
		return true
	}
	n := len(o.cur.items)
	if o.sent != nil {
		o.cur.shared = len(o.targets) > 1
		all := true
		for i, t := range o.targets {
			if o.sent[i] {
				continue
			}
			if t.q.offer(o.cur, n) {
				o.sent[i] = true
			} else {
				all = false
			}
		}
		if !all {
			return false
		}
		clear(o.sent)
		o.cur = nil
		return true
	}
	for k := range o.targets {
		i := (o.next + k) % len(o.targets)
		if o.targets[i].q.offer(o.cur, n) {
			o.next = (i + 1) % len(o.targets)
			o.cur = nil
			return true
		}
	}
	return false
}

func (o *outputT[T]) flushTarget(i int) bool {
	b := o.bufs[i]
	if b == nil || len(b.items) == 0 {
		return true
	}
	t := o.targets[i]
	b.dest = t.dest
	if !t.q.offer(b, len(b.items)) {
		return false
	}
	o.bufs[i] = nil
	return true
}

func (o *outputT[T]) emitControl(c control) bool {
	if !o.flush() {
		return false
	}
	all := true
	for i, q := range o.ctrl {
		if o.ctrlSent[i] {
			continue
		}
		if q.offer(c, 0) {
			o.ctrlSent[i] = true
		} else {
			all = false
		}
	}
	if all {
		clear(o.ctrlSent)
	}
	return all
}
