package member

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	cfg := LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Shutdown(ctx)) }()
	b, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Shutdown(ctx)) }()

	// a learned, for an ID that no longer runs, b's address: as if b had
	// restarted there.
	gone := "0123456789abcdef"
	a.transport.learn(map[string]string{gone: b.TransportAddr()})
	_, err = a.transport.connTo(ctx, gone)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrUnknownMember)
	require.False(t, errors.Is(err, ErrRefused), "a stale address is not a refusal: %v", err)
	t.Logf("error: %v", err)
}
