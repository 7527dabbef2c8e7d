package grid_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/proctest"
	"github.com/weir-dev/weir/member"
)

// Three weir member processes hold the data; an in-process lite member
// writes unique keys from several goroutines. kill -9 of one process in the
// middle of the load loses no acknowledged write.
func TestNoAcknowledgedWriteLostWhenAProcessIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	p1 := proctest.StartMember(t, "p1")
	p2 := proctest.StartMember(t, "p2", "--join", p1.GossipAddr)
	p3 := proctest.StartMember(t, "p3", "--join", p1.GossipAddr)

	cfg := clustertest.Config(t)
	cfg.Lite = true
	cfg.Join = []string{p1.GossipAddr}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	lite, err := member.Start(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, lite.Shutdown(ctx)) }()

	// waitTable polls until the lite member sees the given data members (and
	// itself) and a full, balanced table over them.
	waitTable := func(ids ...string) {
		t.Helper()
		var last error
		ok := pollUntil(60*time.Second, func() bool {
			tb := lite.Partitions()
			if tb == nil {
				last = errors.New("no table")
				return false
			}
			if n := len(lite.Members()); n != len(ids)+1 {
				last = fmt.Errorf("the lite member sees %d members", n)
				return false
			}
			last = clustertest.CheckTable(tb, ids, 1)
			return last == nil
		})
		require.True(t, ok, "table never converged: %v", last)
	}
	waitTable(p1.ID, p2.ID, p3.ID)

	load := startLoad(t, []*member.Member{lite}, "killed", 6)
	load.waitWrites(t, 1000)
	p2.Kill()
	killedAt := load.count.Load()
	load.waitWrites(t, 1000) // writes go on through the failover
	waitTable(p1.ID, p3.ID)
	load.waitWrites(t, 200) // and after it
	acked := load.finish()
	t.Logf("%d acknowledged writes (%d before the kill), %d failed attempts", len(acked), killedAt, load.errs.Load())
	verifyAll(t, lite, "killed", acked)
}

// pollUntil polls cond until it holds or the timeout passes. Unlike
// require.Eventually it runs cond on the calling goroutine, so cond may set
// variables the caller reads afterwards.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
