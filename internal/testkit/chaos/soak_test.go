package chaos_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
)

// TestSoakKills is TestExactlyOnceThroughKills for as long as WEIR_SOAK
// says: the counting job runs exactly-once while member processes are
// killed with SIGKILL one after another, the coordinator and others in
// turn while a process coordinates, each replaced by a new process once the
// job has recovered. At the end
// the counts and the committed files equal the input exactly.
func TestSoakKills(t *testing.T) {
	t.Parallel()
	soak := clustertest.Soak(t)
	c := startCluster(t, 3)
	j := startCountJob(t, c, dag.ExactlyOnce, testjobs.Interval)
	end := time.Now().Add(soak)
	kills := 0
	for time.Now().Before(end) {
		victim := c.other()
		// Once every first process is replaced, the lite member in this
		// process is the oldest, and so the coordinator: then only others
		// can be killed.
		if coord, ok := c.coordinatorProc(); ok && kills%2 == 1 {
			victim = coord
		}
		before := j.Info()
		c.kill(victim)
		c.replace()
		after := j.WaitRecovered(before, c.live())
		kills++
		t.Logf("kill %d: %s; restored snapshot %d", kills, victim.Name, after.RestoredFrom)
	}
	require.Zero(t, j.Finish(true))
	t.Logf("%d kills in %v, exactly once", kills, soak)
}
