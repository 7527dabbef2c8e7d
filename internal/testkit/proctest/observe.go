package proctest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// StartThree starts member processes p1, p2 and p3, the last two joining
// the first, and an in-process lite member joined to them from which the
// test watches the cluster (and, being lite, holds no data that a kill
// could take away). The lite member shuts down at the end of the test.
// args are extra flags for every process, such as --min-cluster-size 2.
func StartThree(t testing.TB, args ...string) (procs [3]*Proc, observer *member.Member) {
	t.Helper()
	procs[0] = StartMember(t, "p1", args...)
	procs[1] = StartMember(t, "p2", append([]string{"--join", procs[0].GossipAddr}, args...)...)
	procs[2] = StartMember(t, "p3", append([]string{"--join", procs[0].GossipAddr}, args...)...)
	cfg := clustertest.Config(t)
	cfg.Lite = true
	cfg.Join = []string{procs[0].GossipAddr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, obs.Shutdown(ctx))
	})
	return procs, obs
}

// WaitTable waits up to a minute until observer, a lite member, sees the
// data members ids and itself, and a full table balanced over the data
// members with one backup, and returns that table.
func WaitTable(t testing.TB, observer *member.Member, ids ...string) *partition.Table {
	t.Helper()
	var tb *partition.Table
	var last error
	ok := clustertest.PollUntil(time.Minute, func() bool {
		switch tb = observer.Partitions(); {
		case tb == nil:
			last = errors.New("no table")
		case len(observer.Members()) != len(ids)+1:
			last = fmt.Errorf("the observer sees %d members", len(observer.Members()))
		default:
			last = tb.CheckPlacement(ids, 1)
		}
		return last == nil
	})
	if !ok {
		t.Fatalf("table never converged: %v", last)
	}
	return tb
}
