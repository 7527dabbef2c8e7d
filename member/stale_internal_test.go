package member

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A member killed and restarted at the same transport address has a new
// ID. Dialing the old ID there reaches the new process, which refuses: that
// member is gone, an ErrUnknownMember (callers retry on a fresh table), not
// an ErrRefused (a configuration mismatch, which no retry fixes). The
// nemesis test found a job failing for good on the ErrRefused.
func TestDialStaleAddressIsUnknownMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startQuiet(t, ctx), startQuiet(t, ctx)

	// a learned, for an ID that no longer runs, b's address: as if b had
	// restarted there.
	gone := "0123456789abcdef"
	a.transport.learn(map[string]string{gone: b.TransportAddr()})
	_, err := a.transport.connTo(ctx, gone)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrUnknownMember)
	require.False(t, errors.Is(err, ErrRefused), "a stale address is not a refusal: %v", err)
	t.Logf("error: %v", err)
}

// A member killed while another dials it resets the handshake: the
// connection is lost (callers retry, a job restarts), not a failure no
// retry fixes. A soak that kills member processes once failed its job so,
// in a source reading a map journal.
func TestHandshakeResetIsConnectionLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := startQuiet(t, ctx)

	// A peer that dies once the handshake has begun: it resets the
	// connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = nc.Read(make([]byte, 1)) // the dialer's hello has come
		_ = nc.(*net.TCPConn).SetLinger(0)
		_ = nc.Close() // with a reset
	}()
	dying := "fedcba9876543210"
	a.transport.learn(map[string]string{dying: l.Addr().String()})
	_, err = a.transport.connTo(ctx, dying)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrConnectionLost, "a reset handshake is a lost connection: %v", err)
	t.Logf("error: %v", err)
}

// startQuiet starts a member with LocalConfig and no log, shut down when
// the test ends.
func startQuiet(t *testing.T, ctx context.Context) *Member {
	t.Helper()
	cfg := LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
	return m
}
