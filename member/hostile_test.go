package member_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/hostile"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// waitClosed reads nc until the member closes it, failing after limit.
func waitClosed(t *testing.T, nc net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, nc)
	require.NoError(t, err, "the member closes the connection within %v", limit)
	return time.Since(start)
}

// A frame that stops halfway is dropped after ReadTimeout, and a connection
// with nothing in flight after IdleTimeout; the member keeps serving.
func TestStalledFramesAndIdleConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.ReadTimeout = 300 * time.Millisecond
	cfg.IdleTimeout = 600 * time.Millisecond
	m, err := member.Start(ctxT(t, 10*time.Second), cfg)
	require.NoError(t, err)
	defer m.Shutdown(context.Background())

	stalled, err := hostile.Handshake(m.TransportAddr(), cfg.ClusterName, m.ID(), m.Config().PartitionCount)
	require.NoError(t, err)
	defer stalled.Close()
	require.NoError(t, hostile.StalledFrame(stalled, 60<<20, 1000))
	waitClosed(t, stalled, 10*time.Second)
	require.Eventually(t, func() bool { return m.TransportStats().BadFrames >= 1 }, 5*time.Second, 10*time.Millisecond)

	idle, err := hostile.Handshake(m.TransportAddr(), cfg.ClusterName, m.ID(), m.Config().PartitionCount)
	require.NoError(t, err)
	defer idle.Close()
	waitClosed(t, idle, 10*time.Second)

	_, err = member.HostOf(m).Call(ctxT(t, 2*time.Second), m.ID(), "member.table.get", nil)
	require.NoError(t, err)
}

// A connection waiting for a slow handler is not idle: the call outlives
// IdleTimeout several times over.
func TestIdleTimeoutSparesConnectionsWithWorkInFlight(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.IdleTimeout = 200 * time.Millisecond
	c := clustertest.Start(t, 2, cfg)
	a, b := c.Members()[0], c.Members()[1]
	member.HostOf(b).Handle("test.slow", func(ctx context.Context, _ *member.Request) ([]byte, error) {
		select {
		case <-time.After(time.Second):
			return []byte("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	out, err := member.HostOf(a).Call(ctxT(t, 10*time.Second), b.ID(), "test.slow", nil)
	require.NoError(t, err)
	require.Equal(t, "done", string(out))
}

// Handshakes that never finish are capped: past the cap a connection is
// closed at once, and refusals are logged as a summary, not a line each.
func TestPendingHandshakesAreCappedAndRefusalsSummarised(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{}
	cfg := clustertest.Config(t)
	cfg.Logger = slog.New(rec)
	cfg.MaxPendingHandshakes = 8
	cfg.DialTimeout = 3 * time.Second
	m, err := member.Start(ctxT(t, 10*time.Second), cfg)
	require.NoError(t, err)
	defer m.Shutdown(context.Background())

	var held []net.Conn
	defer func() {
		for _, nc := range held {
			_ = nc.Close()
		}
	}()
	for range 8 {
		nc, err := net.Dial("tcp", m.TransportAddr())
		require.NoError(t, err)
		held = append(held, nc)
	}
	// The member takes the connections in order; wait until it holds all 8.
	for range 40 {
		nc, err := net.Dial("tcp", m.TransportAddr())
		require.NoError(t, err)
		held = append(held, nc)
	}
	opened := time.Now()
	refusedFast := 0
	for _, nc := range held[8:] {
		waitClosed(t, nc, 10*time.Second)
		if time.Since(opened) < cfg.DialTimeout/2 {
			refusedFast++
		}
	}
	require.GreaterOrEqual(t, refusedFast, 30, "connections past the cap are closed at once")
	require.GreaterOrEqual(t, m.TransportStats().RefusedConnections, uint64(30))
	rec.mu.Lock()
	lines := 0
	for _, l := range rec.msgs {
		if bytes.Contains([]byte(l), []byte("refused connections")) {
			lines++
		}
	}
	rec.mu.Unlock()
	require.LessOrEqual(t, lines, 3, "refusals are summarised")
}

// The dialer proves it knows the secret before the member sends anything
// derived from it: a stranger's hello gets a welcome without a MAC, and a
// wrong proof a refusal.
func TestDialerProvesFirst(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.SecretKey = []byte("correct horse")
	m, err := member.Start(ctxT(t, 10*time.Second), cfg)
	require.NoError(t, err)
	defer m.Shutdown(context.Background())

	nc, err := net.Dial("tcp", m.TransportAddr())
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	send := func(v any) {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		f, err := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindHandshake}, b)
		require.NoError(t, err)
		_, err = nc.Write(f)
		require.NoError(t, err)
	}
	r := wire.NewReader(nc, 1<<16)
	recv := func() map[string]any {
		_, p, err := r.ReadFrame()
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, msgpack.Unmarshal(p, &v))
		return v
	}
	send(map[string]any{"c": cfg.ClusterName, "p": hostile.Protocol, "n": m.Config().PartitionCount, "f": "x", "t": m.ID(), "o": make([]byte, 16)})
	welcome := recv()
	require.NotEmpty(t, welcome["o"], "a welcome has the member's nonce")
	require.Nil(t, welcome["m"], "and no MAC to try guesses against")
	send(map[string]any{"m": make([]byte, 32)})
	require.Contains(t, recv()["r"], "authentication failed")
}

// A memberlist push/pull header that declares a million nodes is refused
// before memberlist allocates for them, and the member stays in its cluster.
func TestPushPullBombIsRefused(t *testing.T) {
	// Not parallel: it counts the process's allocations.
	c := clustertest.Start(t, 2, member.Config{})
	m := c.Members()[0]
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 16 {
		nc, err := hostile.PushPullBomb(m.Addr(), 1<<20)
		require.NoError(t, err)
		waitClosed(t, nc, 10*time.Second)
		_ = nc.Close()
	}
	require.Eventually(t, func() bool { return m.TransportStats().RefusedGossipStreams >= 16 }, 5*time.Second, 10*time.Millisecond)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "16 headers of a million nodes allocate little")
	require.Len(t, m.Members(), 2)
}
