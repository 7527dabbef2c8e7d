package member

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/partition"
)

// The coordinator acts on a table member's departure only once it has been
// missing from the view for a probe interval; one back in time is as if it
// never left.
func TestCoordinatorHoldsDeparturesAProbeIntervalLong(t *testing.T) {
	m := &Member{cfg: Config{Gossip: GossipConfig{ProbeInterval: time.Hour}}}
	var c coordinator
	c.init(m)
	tb := partition.Initial(7, []string{"a", "b", "c"}, 1)

	require.Zero(t, c.holdDepartures(tb, []string{"a", "b", "c", "lite"}))
	wait := c.holdDepartures(tb, []string{"a", "b"})
	require.Greater(t, wait, 59*time.Minute, "c just went missing")
	require.LessOrEqual(t, c.holdDepartures(tb, []string{"a", "b"}), wait, "the wait counts from when c went missing")

	require.Zero(t, c.holdDepartures(tb, []string{"a", "b", "c"}), "c is back")
	require.Empty(t, c.gone)
	require.Greater(t, c.holdDepartures(tb, []string{"a", "b"}), 59*time.Minute, "c's absence counts again from the start")

	c.gone["c"] = time.Now().Add(-time.Hour) // an hour has passed
	require.Zero(t, c.holdDepartures(tb, []string{"a", "b"}), "c has been gone long enough")
	require.Greater(t, c.holdDepartures(tb, []string{"a"}), 59*time.Minute, "b just went missing too")

	// A member the table no longer names is forgotten.
	require.Zero(t, c.holdDepartures(partition.Initial(7, []string{"a"}, 0), []string{"a"}))
	require.Empty(t, c.gone)
	require.Zero(t, c.holdDepartures(nil, []string{"a"}))
}
