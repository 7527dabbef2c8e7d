package member

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/partition"
)

// decided is a coordDecision in a form tests compare whole: publish is the
// members of the published table.
type decided struct {
	noQuorum, warn bool
	hold           time.Duration
	publish        []string
	atLeast        uint64
	tookBump       bool
	rebalance      bool
}

func describe(d coordDecision) decided {
	got := decided{noQuorum: d.noQuorum, warn: d.warnNoQuorum, hold: d.hold, atLeast: d.atLeast, tookBump: d.tookBump, rebalance: d.rebalance}
	if d.publish != nil {
		got.publish = d.publish.Members()
	}
	return got
}

// coordStep is one step of the coordinator: what it observes at a time.
type coordStep struct {
	at       time.Duration // since the scenario began
	alive    []string      // data members in the view
	leaving  []string      // those of them that are leaving
	noQuorum bool
	bump     uint64
	want     decided
}

// The coordinator's decisions, stepped through time without a clock, a
// network or a goroutine: each scenario drives one core the way the
// coordinator loop does, publishing the tables it decides on.
func TestCoordinatorDecisions(t *testing.T) {
	t.Parallel()
	const settle = time.Second
	abc := []string{"a", "b", "c"}
	ab := []string{"a", "b"}
	steady := decided{tookBump: true, rebalance: true}
	promoted := func(members ...string) decided {
		return decided{publish: members, rebalance: true}
	}
	held := func(d time.Duration) decided { return decided{hold: d} }

	cases := []struct {
		name  string
		table []string // members of the first table; none: no table yet
		steps []coordStep
	}{
		{"all present: nothing to publish", abc, []coordStep{
			{at: 0, alive: abc, want: steady},
			{at: time.Hour, alive: abc, want: steady},
		}},
		{"a departure is acted on a probe interval after it was seen", abc, []coordStep{
			{at: 0, alive: ab, want: held(settle)},
			{at: 400 * time.Millisecond, alive: ab, want: held(600 * time.Millisecond)},
			{at: settle - time.Nanosecond, alive: ab, want: held(time.Nanosecond)},
			{at: settle, alive: ab, want: promoted("a", "b")},
			// The table no longer names c: nothing more to wait for.
			{at: 2 * settle, alive: ab, want: steady},
		}},
		{"a member back within the probe interval is as if it never left", abc, []coordStep{
			{at: 0, alive: ab, want: held(settle)},
			{at: settle / 2, alive: abc, want: steady},
			{at: settle, alive: abc, want: steady},
			// Missing again: its absence counts from now, not from 0.
			{at: 3 * settle / 2, alive: ab, want: held(settle)},
			{at: 2 * settle, alive: ab, want: held(settle / 2)},
			{at: 5 * settle / 2, alive: ab, want: promoted("a", "b")},
		}},
		{"a flapping member is acted on only once it stays away a probe interval", abc, []coordStep{
			{at: 0, alive: ab, want: held(settle)},
			{at: 300 * time.Millisecond, alive: abc, want: steady},
			{at: 600 * time.Millisecond, alive: ab, want: held(settle)},
			{at: 900 * time.Millisecond, alive: abc, want: steady},
			{at: 1200 * time.Millisecond, alive: ab, want: held(settle)},
			{at: 2 * settle, alive: ab, want: held(200 * time.Millisecond)},
			{at: 2200 * time.Millisecond, alive: ab, want: promoted("a", "b")},
		}},
		{"the last of several departures sets the wait, and all are acted on together", abc, []coordStep{
			{at: 0, alive: ab, want: held(settle)},
			{at: settle / 2, alive: []string{"a"}, want: held(settle)},
			{at: settle, alive: []string{"a"}, want: held(settle / 2)},
			{at: 3 * settle / 2, alive: []string{"a"}, want: promoted("a")},
		}},
		{"a leaving member is not waited for: rebalancing moves its partitions", abc, []coordStep{
			{at: 0, alive: abc, leaving: []string{"c"}, want: steady},
			{at: settle, alive: abc, leaving: []string{"c"}, want: steady},
			// Gone from the view while the table still names it: a departure.
			{at: 2 * settle, alive: ab, want: held(settle)},
			{at: 3 * settle, alive: ab, want: promoted("a", "b")},
		}},
		{"without a quorum nothing is published, the loss is reported once, and absences are not timed", abc, []coordStep{
			{at: 0, alive: []string{"a"}, noQuorum: true, want: decided{noQuorum: true, warn: true}},
			{at: 5 * settle, alive: []string{"a"}, noQuorum: true, want: decided{noQuorum: true}},
			// Back with the quorum, without c: c's absence counts from now.
			{at: 6 * settle, alive: ab, want: held(settle)},
			{at: 6*settle + settle/2, alive: []string{"a"}, noQuorum: true, want: decided{noQuorum: true, warn: true}},
			// The quorum lost again does not restart a departure seen.
			{at: 7 * settle, alive: ab, want: promoted("a", "b")},
		}},
		{"a quorum that comes back with every member publishes nothing", abc, []coordStep{
			{at: 0, alive: []string{"a"}, noQuorum: true, want: decided{noQuorum: true, warn: true}},
			{at: settle, alive: abc, want: steady},
		}},
		{"the first table is published at once, for the active members", nil, []coordStep{
			{at: 0, alive: abc, leaving: []string{"c"}, want: decided{publish: ab}},
			{at: settle, alive: abc, leaving: []string{"c"}, want: steady},
		}},
		{"no table and no active member: nothing to publish", nil, []coordStep{
			{at: 0, alive: nil, want: decided{}},
		}},
		{"a bump above the table republishes it at least that high; one at or below is cleared", abc, []coordStep{
			{at: 0, alive: abc, bump: 7, want: decided{publish: abc, atLeast: 7, tookBump: true, rebalance: true}},
			{at: settle, alive: abc, bump: 7, want: steady},
		}},
		{"a bump waits while a departure is held, and for the promotion", abc, []coordStep{
			{at: 0, alive: ab, bump: 9, want: held(settle)},
			{at: settle, alive: ab, bump: 9, want: promoted("a", "b")},
			{at: 2 * settle, alive: ab, bump: 9, want: decided{publish: ab, atLeast: 9, tookBump: true, rebalance: true}},
		}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core := newCoordCore(Config{Gossip: GossipConfig{ProbeInterval: settle}, PartitionCount: 7, BackupCount: 1})
			var table *partition.Table
			if tc.table != nil {
				table = partition.Initial(7, tc.table, 1).WithVersion(1)
			}
			for _, st := range tc.steps {
				active := slices.DeleteFunc(slices.Clone(st.alive), func(id string) bool { return slices.Contains(st.leaving, id) })
				d := core.decide(coordInput{now: start.Add(st.at), table: table, alive: st.alive, active: active, quorum: !st.noQuorum, bump: st.bump})
				require.Equal(t, st.want, describe(d), "step at %v", st.at)
				if d.publish != nil {
					var v uint64
					if table != nil {
						v = table.Version()
					}
					table = d.publish.WithVersion(max(d.atLeast, v+1))
				}
			}
		})
	}
}

// Whose tables the coordinator reads before deciding, and whether it adopts
// the newest.
func TestCoordinatorMeetsMembers(t *testing.T) {
	t.Parallel()
	core := newCoordCore(Config{})
	require.Equal(t, gatherPlan{ask: []string{"b", "c"}, adopt: true, first: true}, core.meet("a", []string{"a", "b", "c"}, false), "a new coordinator reads every table and adopts the newest")
	require.Equal(t, gatherPlan{}, core.meet("a", []string{"a", "b", "c"}, false), "nobody new")
	require.Equal(t, gatherPlan{ask: []string{"d"}}, core.meet("a", []string{"a", "b", "d"}, false), "a member it did not know: read, not adopted")
	require.Equal(t, gatherPlan{ask: []string{"c"}, adopt: true}, core.meet("a", []string{"a", "b", "c", "d"}, true), "c left and came back; a stale table adopts")
	core.resign()
	require.Equal(t, gatherPlan{ask: []string{"b"}, adopt: true, first: true}, core.meet("a", []string{"a", "b"}, false), "coordinator again")

	require.True(t, republishAbove(5, 5), "theirs numbered as ours")
	require.True(t, republishAbove(6, 5))
	require.False(t, republishAbove(4, 5))
	require.False(t, republishAbove(0, 0), "they hold no table")
}

func TestStragglers(t *testing.T) {
	t.Parallel()
	acked := map[string]uint64{"b": 3, "c": 2}
	require.Equal(t, []string{"c", "d"}, stragglers("a", []string{"a", "b", "c", "d"}, acked, 3))
	require.Empty(t, stragglers("a", []string{"a", "b"}, acked, 3))
}

func TestCoordinatorTick(t *testing.T) {
	t.Parallel()
	require.Equal(t, time.Second, coordTick(time.Second))
	require.Equal(t, time.Second, coordTick(200*time.Millisecond))
	require.Equal(t, 500*time.Millisecond, coordTick(100*time.Millisecond))
}

// The watchdog asks for a releasing table only for partitions frozen longer
// than its limit, and for the highest commit among them.
func TestFrozenPartitionsOverdue(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var f frozenParts
	f.init()
	f.parts[1] = frozenPart{commit: 5, since: start}
	f.parts[2] = frozenPart{commit: 9, since: start.Add(time.Minute)}
	limit := 2 * time.Minute

	require.Zero(t, f.overdueLocked(start, limit))
	require.Zero(t, f.overdueLocked(start.Add(limit), limit), "frozen exactly as long as the limit")
	require.Equal(t, uint64(5), f.overdueLocked(start.Add(limit+time.Nanosecond), limit))
	require.Equal(t, uint64(9), f.overdueLocked(start.Add(time.Minute+limit+time.Nanosecond), limit))
	delete(f.parts, 2)
	require.Equal(t, uint64(5), f.overdueLocked(start.Add(time.Hour), limit))
}
