package member_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// The coordinator acts on a member's departure a probe interval of its
// clock after it saw it: gossip declares the member cut off gone in real
// time, and the test steps the coordinator's clock until the member's
// partitions are handed over, measuring how far it had to go.
func TestDepartureIsActedOnAProbeIntervalOfTheCoordinatorsClock(t *testing.T) {
	// Not parallel: it steps a fake clock against work done in real time.
	net := clustertest.NewNetwork()
	clock := clockwork.NewFakeClockAt(time.Now())
	cfg := clustertest.Config(t)
	cfg.Faults = net
	c := clustertest.Start(t, 0, cfg)
	coord := c.Add(func(cfg *member.Config) { cfg.Clock = clock })
	other := c.Add(func(*member.Config) {})
	gone := c.Add(func(*member.Config) {})
	c.WaitStable(3)
	ctx := ctxT(t, 30*time.Second)

	net.Split([]*member.Member{coord, other}, []*member.Member{gone})
	_, err := coord.WaitMembers(ctx, func(is []member.Info) bool { return len(is) == 2 })
	require.NoError(t, err)
	start := clock.Now()
	require.Eventually(t, func() bool {
		if !slices.Contains(coord.Partitions().Members(), gone.ID()) {
			return true
		}
		clock.Advance(20 * time.Millisecond)
		return false
	}, 20*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, clock.Since(start), cfg.Gossip.ProbeInterval, "acted on the departure before a probe interval")
	net.Heal()
}
