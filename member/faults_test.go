package member_test

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// clockedPair starts a coordinator whose time is a fake clock, with its
// requests timing out after an hour of that clock, and a second member,
// both on a network that can drop and delay frames.
func clockedPair(t *testing.T) (coord, other *member.Member, clock *clockwork.FakeClock, net *clustertest.Network) {
	net = clustertest.NewNetwork()
	clock = clockwork.NewFakeClockAt(time.Now())
	cfg := clustertest.Config(t)
	cfg.Faults = net
	c := clustertest.Start(t, 0, cfg)
	coord = c.Add(func(cfg *member.Config) {
		cfg.Clock = clock
		cfg.DialTimeout = time.Hour
	})
	other = c.Add(func(*member.Config) {})
	c.WaitStable(2)
	return coord, other, clock, net
}

// tablesTo returns a frame rule applying fault to the coordinator's table
// publications to m, and a channel told of each such frame.
func tablesTo(m *member.Member, fault member.Fault) (func(member.Frame) member.Fault, <-chan struct{}) {
	seen := make(chan struct{}, 16)
	return func(f member.Frame) member.Fault {
		if f.Kind != member.FrameRequest || f.Route != "member.table" || f.To != m.TransportAddr() {
			return member.Fault{}
		}
		select {
		case seen <- struct{}{}:
		default:
		}
		return fault
	}, seen
}

func version(m *member.Member) uint64 { return m.Partitions().Version() }

// A table publication that is lost times out on the coordinator's clock,
// counts as not acknowledged, and is sent again: the member catches up as
// soon as the coordinator's clock passes its DialTimeout (an hour), not an
// hour later.
func TestLostTablePublicationIsSentAgainAfterTheCoordinatorsTimeout(t *testing.T) {
	t.Parallel()
	coord, other, clock, net := clockedPair(t)
	ctx := ctxT(t, 30*time.Second)
	want := version(coord) + 1
	drop, dropped := tablesTo(other, member.Fault{Drop: true})
	net.SetFrames(drop)

	require.NoError(t, member.AskForTable(ctx, other, want))
	select {
	case <-dropped:
	case <-ctx.Done():
		t.Fatal("the coordinator did not publish")
	}
	require.GreaterOrEqual(t, version(coord), want, "published on the coordinator")
	require.Less(t, version(other), want, "the publication was lost")

	net.SetFrames(nil)
	clock.Advance(time.Hour)
	// WaitPartitions, not WaitVersion: that would fetch the table itself.
	_, err := other.WaitPartitions(ctx, func(t *partition.Table) bool { return t.Version() >= want })
	require.NoError(t, err, "sent again once the first send timed out")
}

// A table publication delayed on the way arrives once its delay has passed
// on the sender's clock, and not before.
func TestDelayedTablePublicationArrivesAfterItsDelay(t *testing.T) {
	t.Parallel()
	coord, other, clock, net := clockedPair(t)
	ctx := ctxT(t, 30*time.Second)
	want := version(coord) + 1
	const delay = 10 * time.Minute
	slow, delayed := tablesTo(other, member.Fault{Delay: delay})
	net.SetFrames(slow)

	require.NoError(t, member.AskForTable(ctx, other, want))
	select {
	case <-delayed:
	case <-ctx.Done():
		t.Fatal("the coordinator did not publish")
	}
	// The delay's timer starts just after the rule was asked: step the
	// clock a minute at a time until the table arrives, and see how far.
	start := clock.Now()
	require.Eventually(t, func() bool {
		if version(other) >= want {
			return true
		}
		clock.Advance(time.Minute)
		return false
	}, 20*time.Second, 5*time.Millisecond)
	took := clock.Since(start)
	require.GreaterOrEqual(t, took, delay, "arrived before its delay")
	require.Less(t, took, time.Hour, "arrived only when sent again after the coordinator's timeout")
}
