package dag

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
)

// A harness to drive the windowing processors without an engine: their
// outputs are real outputs over queues the test drains, sized so that a
// test can make Offer say "full".

// testOutput is one outbound edge of a processor under test.
type testOutput[T any] struct {
	o *outputT[Timed[T]]
	q *queue
}

// newTestOutput makes an edge of batches of batch items, queue batches
// deep.
func newTestOutput[T any](batch, queueLen int) *testOutput[T] {
	et := newEdgeType[Timed[T]]()
	q := newQueue(queueLen)
	o := et.newOutput(&route{edge: &edge{batchSize: batch, item: et}, targets: []target{{q: q}}})
	return &testOutput[T]{o: o.(*outputT[Timed[T]]), q: q}
}

// take flushes the edge and removes what it holds.
func (t *testOutput[T]) take() []Timed[T] {
	var out []Timed[T]
	for {
		flushed := t.o.flush()
		for {
			e, ok := t.q.peek()
			if !ok {
				break
			}
			b := e.(*batch[Timed[T]])
			out = append(out, b.items...)
			t.q.pop(len(b.items))
		}
		if flushed {
			return out
		}
	}
}

// testContext is a processor's context with the given outputs.
func testContext(outs ...output) *Context {
	ctx := &Context{Vertex: "test"}
	for _, o := range outs {
		ctx.outputs = append(ctx.outputs, o)
		ctx.outputTypes = append(ctx.outputTypes, "test")
	}
	return ctx
}

// testInbox holds items as the engine hands them to Process.
func testInbox[T any](items []T) *Inbox {
	var in Inbox
	in.set(&batch[T]{items: items}, len(items))
	return &in
}

// discard flushes the edge and drops what it holds, returning how many
// items that was.
func (t *testOutput[T]) discard() int {
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

// restoreLateMark gives p, being restored, the watermark entry the stage
// whose lateness l judged saves, if it saves one.
func restoreLateMark[T any](t *testing.T, l *lateOutput[T], p Snapshotter) {
	t.Helper()
	m, ok := l.mark()
	if !ok {
		return
	}
	kb, err := keys.Encode(l.index)
	require.NoError(t, err)
	vb, err := keys.Encode(m)
	require.NoError(t, err)
	require.NoError(t, p.RestoreSnapshot(kb, vb))
}
