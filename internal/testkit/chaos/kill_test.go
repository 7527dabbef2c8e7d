package chaos_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
)

// waitLine waits for a line on a watch channel.
func waitLine(t *testing.T, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
		return ""
	}
}

// TestExactlyOnceThroughKills runs the counting job exactly-once (snapshots
// every 100 ms) on three member processes while input flows, and kills a
// member with SIGKILL three times, at three kinds of moment:
//
//  1. a member that does not coordinate, at an arbitrary moment;
//  2. the coordinator (of the cluster and the job), while a snapshot is
//     being taken;
//  3. a member, as the job restarts to scale up to a member that joined.
//
// After each kill a new process takes the dead one's place and the job
// restores from a snapshot. At the end the counts in the map and the lines
// of the committed files equal the input exactly.
func TestExactlyOnceThroughKills(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	j := startCountJob(t, c, dag.ExactlyOnce, testjobs.Interval)

	before := j.Info()
	victim := c.other()
	c.kill(victim)
	c.replace()
	after := j.WaitRecovered(before, c.live())
	t.Logf("1. killed %s (not the coordinator): restored snapshot %d of %d", victim.Name, after.RestoredFrom, before.Snapshots)

	coord := c.coordinator()
	started := coord.Watch(snapshotStarted)
	line := waitLine(t, started, "snapshot start")
	before = j.Info()
	c.kill(coord)
	c.replace()
	after = j.WaitRecovered(before, c.live())
	t.Logf("2. killed %s (the coordinator) during a snapshot (%s): restored snapshot %d", coord.Name, snapshotID(line), after.RestoredFrom)

	coord = c.coordinator()
	restarting := coord.Watch(regexp.MustCompile(`msg="restarting job"`))
	c.add(c.obs.Addr())
	line = waitLine(t, restarting, "restart to scale up")
	before = j.Info()
	victim = c.other()
	c.kill(victim)
	c.waitStable()
	after = j.WaitRecovered(before, c.live())
	t.Logf("3. killed %s while the job restarted (%s): restored snapshot %d", victim.Name, reason(line), after.RestoredFrom)

	require.Zero(t, j.Finish(true))
}

// TestAtLeastOnceThroughAKill runs the counting job at-least-once and kills
// the coordinator: no reading is lost; readings processed again after the
// restore may be written twice, and the test reports how many were.
func TestAtLeastOnceThroughAKill(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	j := startCountJob(t, c, dag.AtLeastOnce, testjobs.Interval)
	before := j.Info()
	coord := c.coordinator()
	c.kill(coord)
	c.replace()
	after := j.WaitRecovered(before, c.live())
	repeats := j.Finish(false)
	t.Logf("killed %s (the coordinator): restored snapshot %d; %d lines written more than once", coord.Name, after.RestoredFrom, repeats)
}

var (
	snapshotField = regexp.MustCompile(`snapshot=\d+`)
	reasonField   = regexp.MustCompile(`reason="[^"]*"`)
)

func snapshotID(line string) string { return snapshotField.FindString(line) }
func reason(line string) string     { return reasonField.FindString(line) }
