package dag

// Processors are tested without an engine, as Jet's TestOutbox and
// TestInbox allow: a test builds a context whose outputs are test outboxes,
// calls Init, Process and the other methods itself, and takes what the
// processor offered. The outboxes are the engine's outputs over bounded
// queues, so a test can make Offer say "full".

// TestOutbox is one outbound edge of a processor under test, carrying T.
type TestOutbox[T any] struct {
	o *outputT[T]
	q *queue
}

// NewTestOutbox makes an edge of batches of batchSize items, queueLen
// batches deep.
func NewTestOutbox[T any](batchSize, queueLen int) *TestOutbox[T] {
	et := newEdgeType[T]()
	q := newQueue(queueLen)
	o := et.newOutput(&route{edge: &edge{batchSize: batchSize, item: et}, targets: []target{{q: q}}})
	return &TestOutbox[T]{o: o.(*outputT[T]), q: q}
}

// Take flushes the edge and removes what it holds.
func (t *TestOutbox[T]) Take() []T {
	var out []T
	for {
		flushed := t.o.flush()
		for {
			e, ok := t.q.peek()
			if !ok {
				break
			}
			b := e.(*batch[T])
			out = append(out, b.items...)
			t.q.pop(len(b.items))
		}
		if flushed {
			return out
		}
	}
}

// Discard flushes the edge and drops what it holds, returning how many
// items that was. Unlike Take, it recycles the batches, as a consumer
// would.
func (t *TestOutbox[T]) Discard() int {
	n := 0
	for {
		flushed := t.o.flush()
		for {
			e, ok := t.q.peek()
			if !ok {
				break
			}
			k := t.o.et.batchLen(e)
			n += k
			t.q.pop(k)
			t.o.et.recycle(e)
		}
		if flushed {
			return n
		}
	}
}

// TestOutput is an outbound edge a test context can hold: a *TestOutbox.
type TestOutput interface{ testOutput() output }

func (t *TestOutbox[T]) testOutput() output { return t.o }

// NewTestContext returns the context of a processor of vertex "test" whose
// outbound edges, in ordinal order, are outs.
func NewTestContext(outs ...TestOutput) *Context {
	ctx := &Context{Vertex: "test"}
	for _, o := range outs {
		ctx.outputs = append(ctx.outputs, o.testOutput())
		ctx.outputTypes = append(ctx.outputTypes, "test")
	}
	return ctx
}

// NewTestInbox returns an inbox holding items, as the engine hands them to
// Process.
func NewTestInbox[T any](items []T) *Inbox {
	var in Inbox
	in.set(&batch[T]{items: items}, len(items))
	return &in
}
