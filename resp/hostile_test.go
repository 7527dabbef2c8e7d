package resp_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/resp"
)

// rawConn connects to m's endpoint without a client library.
func rawConn(t *testing.T, m *member.Member) net.Conn {
	nc, err := net.Dial("tcp", addr(t, m))
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return nc
}

// sendUntilClosed writes chunk after chunk until the server closes the
// connection, and returns how much it wrote. Writes fail once the server
// has closed (after what the socket buffers held).
func sendUntilClosed(t *testing.T, nc net.Conn, chunk []byte, most int) int {
	sent := 0
	for sent < most {
		_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n, err := nc.Write(chunk)
		sent += n
		if err != nil {
			return sent
		}
	}
	t.Fatalf("the server took %d bytes of one request without closing", sent)
	return sent
}

// readReply reads what the server answered before closing.
func readReply(t *testing.T, nc net.Conn) string {
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, _ := io.ReadAll(io.LimitReader(nc, 4096))
	return string(b)
}

// send writes b, reading at the same time what the server answers until
// it closes the connection, and returns the answer.
func send(t *testing.T, nc net.Conn, b []byte) string {
	go func() {
		_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, _ = nc.Write(b) // fails once the server has closed
	}()
	return readReply(t, nc)
}

// Hostile requests are refused with an error as soon as their framing
// says they are: an argument count over MaxArgs or a bulk length over
// MaxRequest (1 MiB in these tests) before anything of that size is
// allocated, and a command whose arguments add up to more than MaxRequest
// once the server has read that much. A well-behaved client is served
// meanwhile.
func TestHostileRequestsRefusedWithBoundedMemory(t *testing.T) {
	c := startCluster(t, 1, nil)
	m := c.Members()[0]
	ctx := clustertest.Ctx(t, time.Minute)
	good := dial(t, m, 3)

	for _, tc := range []struct{ name, req, reply string }{
		{"huge multibulk count", "*2147483647\r\n" + strings.Repeat("$1\r\na\r\n", 1000), "-ERR Protocol error: invalid multibulk length"},
		{"oversized bulk string", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9999999999\r\n" + strings.Repeat("x", 1000), "-ERR Protocol error: invalid bulk length"},
		{"arguments over the limit together", "*1000\r\n" + strings.Repeat("$2048\r\n"+strings.Repeat("a", 2048)+"\r\n", 1000), "-ERR Protocol error: request larger than 1048576 bytes"},
		{"endless inline command", strings.Repeat("GET ", 32<<10), "-ERR Protocol error: too big inline request"},
		{"negative count", "*-3\r\n", "-ERR Protocol error"},
		{"negative bulk length", "*1\r\n$-5\r\n", "-ERR Protocol error"},
		{"not a bulk", "*1\r\n+x\r\n", "-ERR Protocol error"},
		{"not a number", "*abc\r\n", "-ERR Protocol error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, send(t, rawConn(t, m), []byte(tc.req)), tc.reply)
		})
	}
	// The server is still well.
	require.NoError(t, good.Set(ctx, "after", "ok", 0).Err())
	require.Equal(t, "ok", good.Get(ctx, "after").Val())
}

// A client that sends an endless pipeline and reads none of the replies is
// held back by TCP, then disconnected once a write of its replies has
// waited WriteTimeout (a second here): its replies never pile up in the
// server's memory. Other clients are served meanwhile.
func TestEndlessPipelineOfSlowReaderIsDisconnected(t *testing.T) {
	c := startCluster(t, 1, nil)
	m := c.Members()[0]
	ctx := clustertest.Ctx(t, time.Minute)
	good := dial(t, m, 2)
	require.NoError(t, good.Set(ctx, "big", strings.Repeat("x", 64<<10), 0).Err())

	nc := rawConn(t, m)
	if tc, ok := nc.(*net.TCPConn); ok {
		require.NoError(t, tc.SetReadBuffer(4<<10)) // read nothing, and hold little
	}
	// GETs of 64 KiB: every request of 22 bytes asks for 64 KiB of reply.
	sent := sendUntilClosed(t, nc, []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 1000)), 1<<30)
	t.Logf("the server closed the connection after %d bytes of requests", sent)
	require.Eventually(t, func() bool {
		return strings.Contains(good.Info(ctx, "clients").Val(), "connected_clients:1\r")
	}, 30*time.Second, 20*time.Millisecond, "the slow client is gone")
	require.Equal(t, "PONG", good.Ping(ctx).Val())
}

// startWith starts one member whose endpoint has the given limits.
func startWith(t *testing.T, limits resp.Limits) *member.Member {
	cfg := clustertest.Config(t)
	cfg.RESPAddr = "127.0.0.1:0"
	m, err := member.Start(clustertest.Ctx(t, time.Minute), cfg, grid.Service(), resp.Service(resp.Options{Limits: limits}))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Shutdown(clustertest.Ctx(t, time.Minute))) })
	return m
}

// Beyond MaxClients, a connection is answered with an error and closed;
// a command of more than MaxArgs arguments too.
func TestClientAndArgumentLimits(t *testing.T) {
	m := startWith(t, resp.Limits{MaxClients: 2, MaxArgs: 4})
	ctx := clustertest.Ctx(t, time.Minute)
	a, b := dial(t, m, 2), dial(t, m, 2)
	require.NoError(t, a.Ping(ctx).Err())
	require.NoError(t, b.Ping(ctx).Err())
	require.Contains(t, readReply(t, rawConn(t, m)), "-ERR max number of clients reached")

	require.Equal(t, []any{nil, nil, nil}, a.MGet(ctx, "x", "y", "z").Val())
	require.ErrorContains(t, a.MGet(ctx, "x", "y", "z", "w").Err(), "ERR Protocol error: invalid multibulk length")
	// The endpoint closed that connection after its error reply; the
	// client put it back in its pool before it saw the close, so the next
	// command may meet the reset and the one after takes a new connection.
	require.Eventually(t, func() bool { return a.Ping(ctx).Err() == nil }, 10*time.Second, 10*time.Millisecond,
		"a new connection from the client's pool")
}

// A member terminated without Shutdown (its context cancelled only) ends
// its clients' connections, so that Terminate returns.
func TestTerminateEndsConnections(t *testing.T) {
	cfg := clustertest.Config(t)
	cfg.RESPAddr = "127.0.0.1:0"
	m, err := member.Start(clustertest.Ctx(t, time.Minute), cfg, grid.Service(), resp.Service(resp.Options{}))
	require.NoError(t, err)
	rc := dial(t, m, 2)
	require.NoError(t, rc.Ping(clustertest.Ctx(t, time.Minute)).Err())
	done := make(chan struct{})
	go func() { m.Terminate(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Terminate did not return with a client connected")
	}
}
