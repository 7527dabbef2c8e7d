package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/keys"
)

// A harness to drive the windowing processors without an engine: their
// outputs are real outputs over queues the test drains, sized so that a
// test can make Offer say "full".

// testOutput is one outbound edge of a processor under test.
type testOutput[T any] struct {
	o *dag.TestOutbox[Timed[T]]
}

// newTestOutput makes an edge of batches of batch items, queue batches
// deep.
func newTestOutput[T any](batch, queueLen int) *testOutput[T] {
	return &testOutput[T]{o: dag.NewTestOutbox[Timed[T]](batch, queueLen)}
}

// take flushes the edge and removes what it holds.
func (t *testOutput[T]) take() []Timed[T] { return t.o.Take() }

// discard flushes the edge and drops what it holds, returning how many
// items that was.
func (t *testOutput[T]) discard() int { return t.o.Discard() }

// testContext is a processor's context with the given outputs.
func testContext(outs ...dag.TestOutput) *dag.Context { return dag.NewTestContext(outs...) }

// testInbox holds items as the engine hands them to Process.
func testInbox[T any](items []T) *dag.Inbox { return dag.NewTestInbox(items) }

// restoreLateMark gives p, being restored, the watermark entry the stage
// whose lateness l judged saves, if it saves one.
func restoreLateMark[T any](t *testing.T, l *lateOutput[T], p dag.Snapshotter) {
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
