package grid

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// A listener that falls behind keeps the first listenerQueue events, drops
// and counts the rest, delivers what it kept in order, and once drained
// holds no big buffer.
func TestListenerQueueBoundsAndOrder(t *testing.T) {
	t.Parallel()
	delivered := make(chan uint64, listenerQueue+1)
	l := newListener("m", slog.New(slog.NewTextHandler(io.Discard, nil)), func(e rawEvent) { delivered <- e.Seq })
	const extra = 10
	for i := range listenerQueue + extra { // nothing runs the listener yet
		l.enqueue(rawEvent{Seq: uint64(i), Key: []byte("k")})
	}
	require.Equal(t, int64(extra), l.dropped.Load())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.run(ctx) }()
	for i := range listenerQueue {
		require.Equal(t, uint64(i), <-delivered)
	}
	// Drained: a new event wakes the listener again.
	l.enqueue(rawEvent{Seq: 1 << 40})
	require.Equal(t, uint64(1<<40), <-delivered)
	l.stop()
	<-stopped

	l.mu.Lock()
	defer l.mu.Unlock()
	require.LessOrEqual(t, cap(l.queue), keptListenerBuffer, "a drained listener keeps a buffer of %d events", cap(l.queue))
}
