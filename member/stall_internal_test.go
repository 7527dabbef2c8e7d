package member

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/partition"
)

// After SIGCONT every goroutine of the process runs again at once, and a
// connection's reader may serve a request that waited in its socket before
// the stall watcher wakes. CheckStalled, which a service calls before it
// acts as an owner, must find the stall itself: here the watcher's last
// look is set back as a stop just ended would leave it, and the watcher
// has not woken since.
func TestCheckStalledFindsAStallBeforeTheWatcherWakes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := startQuiet(t, ctx)
	_, err := m.WaitPartitions(ctx, func(t *partition.Table) bool { return t != nil })
	require.NoError(t, err)

	require.False(t, m.CheckStalled(), "no stall yet")
	require.False(t, m.TableStale())
	w := &m.stall
	// The watcher's last look, moved back past the limit; the watcher
	// would notice at its next tick, a quarter of the limit away.
	// (Should the watcher tick right in between, it reports the stall
	// itself: then try again.)
	found := false
	for i := 0; i < 5 && !found; i++ {
		w.last.Add(-int64(w.limit + 2*w.every))
		found = m.CheckStalled()
	}
	require.True(t, found, "the stall was not found")
	require.True(t, m.TableStale(), "found stalled, the member still trusts its table")
	require.False(t, m.CheckStalled(), "one stall is reported once")
}
