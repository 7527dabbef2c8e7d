package member

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// memberlist's lines keep their level, except the ones that are not the
// trouble they describe: closed sockets at shutdown, and a UDP probe
// answered late between members on a loopback address.
func TestMemberlistLogLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line     string
		loopback bool
		want     string
	}{
		{"[WARN] memberlist: Was able to connect to m1 over TCP but UDP probes failed, network may be misconfigured", false, "level=WARN"},
		{"[WARN] memberlist: Was able to connect to m1 over TCP but UDP probes failed, network may be misconfigured", true, "level=DEBUG"},
		{"[ERR] memberlist: Error reading UDP packet: read udp 127.0.0.1:1: use of closed network connection", true, "level=DEBUG"},
		{"[ERR] memberlist: Failed to send ping: some failure", true, "level=ERROR"},
		{"[INFO] memberlist: Suspect m2 has failed, no acks received", false, "level=INFO"},
	} {
		var out bytes.Buffer
		w := memberlistLog{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), loopback: tc.loopback}
		_, err := w.Write([]byte(tc.line))
		require.NoError(t, err)
		require.Contains(t, out.String(), tc.want, tc.line)
		require.NotContains(t, out.String(), "memberlist:", "the prefix is dropped")
	}
}

// A member refusing a join closes the connection; the joiner reads an end
// of file or, when its data was still unread, a reset. Both get the hint.
func TestExplainJoinErrorOnAClosedConnection(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		"failed to join 127.0.0.1:1: EOF",
		"failed to join 127.0.0.1:1: read tcp 127.0.0.1:2->127.0.0.1:1: read: connection reset by peer",
	} {
		require.Contains(t, explainJoinError(errors.New(msg), true), "it may use no secret key", msg)
		require.Contains(t, explainJoinError(errors.New(msg), false), "it may require a secret key", msg)
	}
}
