package grid_test

import (
	"testing"

	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/member"
)

// Three weir member processes hold the data; an in-process lite member
// writes unique keys from several goroutines. kill -9 of one process in the
// middle of the load loses no acknowledged write.
func TestNoAcknowledgedWriteLostWhenAProcessIsKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps, lite := proctest.StartThree(t)
	p1, p2, p3 := ps[0], ps[1], ps[2]
	proctest.WaitTable(t, lite, p1.ID, p2.ID, p3.ID)

	load := startLoad(t, []*member.Member{lite}, "killed", 6)
	load.waitWrites(t, 1000)
	p2.Kill()
	killedAt := load.count.Load()
	load.waitWrites(t, 1000) // writes go on through the failover
	proctest.WaitTable(t, lite, p1.ID, p3.ID)
	load.waitWrites(t, 200) // and after it
	acked := load.finish()
	t.Logf("%d acknowledged writes (%d before the kill), %d failed attempts", len(acked), killedAt, load.errs.Load())
	verifyAll(t, lite, "killed", acked)
}
