package member_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Stats counts the transport's bytes, frames and connections, a refused
// handshake, and the partitions each member holds; StatsOf reads another
// member's over the transport.
func TestStats(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	ctx := ctxT(t, 10*time.Second)
	_, err := a.StatsOf(ctx, b.ID()) // at least one request each way
	require.NoError(t, err)

	sa := a.Stats()
	require.Equal(t, 2, sa.Members)
	require.Positive(t, sa.Transport.BytesSent)
	require.Positive(t, sa.Transport.BytesReceived)
	require.Positive(t, sa.Transport.FramesSent)
	require.Positive(t, sa.Transport.FramesReceived)
	require.Positive(t, sa.Transport.Connections)
	require.NotZero(t, sa.TableVersion)

	sb, err := a.StatsOf(ctx, b.ID())
	require.NoError(t, err)
	require.Equal(t, b.Partitions().Count(), sa.Owned+sb.Owned, "every partition has one owner")
	require.Equal(t, sa.Owned, sb.Backups, "each backs up the other's partitions")

	// A connection that is not a member's is refused at the handshake.
	before := b.Stats().Transport.RefusedConnections
	nc, err := net.Dial("tcp", b.TransportAddr())
	require.NoError(t, err)
	_, err = nc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	_ = nc.Close()
	require.Eventually(t, func() bool { return b.Stats().Transport.RefusedConnections == before+1 }, 10*time.Second, 10*time.Millisecond)

	ok, why := a.Readiness()
	require.True(t, ok, why)
	require.NoError(t, a.Shutdown(ctx))
	ok, why = a.Readiness()
	require.False(t, ok)
	require.Equal(t, "shut down", why)
}
