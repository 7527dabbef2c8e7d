package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/proctest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// Three member processes; kill -9 one; the other two converge on two
// members and a full, balanced table. An in-process lite member observes.
func TestKilledProcessIsRemovedAndPartitionsRecovered(t *testing.T) {
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
	obs, err := member.Start(ctx, cfg)
	require.NoError(t, err)
	defer obs.Shutdown(context.Background())

	waitTable := func(ids ...string) *partition.Table {
		var last error
		ok := assert.Eventually(t, func() bool {
			tb := obs.Partitions()
			if tb == nil {
				last = errors.New("no table")
				return false
			}
			if n := len(obs.Members()); n != len(ids)+1 {
				last = fmt.Errorf("observer sees %d members", n)
				return false
			}
			last = clustertest.CheckTable(tb, ids, 1)
			return last == nil
		}, 60*time.Second, 20*time.Millisecond)
		require.True(t, ok, "table never converged: %v", last)
		return obs.Partitions()
	}
	before := waitTable(p1.ID, p2.ID, p3.ID)

	start := time.Now()
	p2.Kill()
	after := waitTable(p1.ID, p3.ID)
	t.Logf("kill -9 to converged table: %v (v%d -> v%d)", time.Since(start), before.Version(), after.Version())
	for _, p := range before.Owned(p2.ID) {
		require.Contains(t, []string{p1.ID, p3.ID}, after.Owner(p))
	}

	// The survivors print the new view, and stop gracefully.
	require.Eventually(t, func() bool {
		return bytes.Contains([]byte(p1.Output()), []byte("members (3):")) // p1, p3 and the observer
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, p3.Stop(ctx))
	require.Contains(t, p3.Output(), "member stopped")
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"--help"}, &out, &errOut))
	require.Contains(t, out.String(), "member")
	out.Reset()
	require.Equal(t, 0, run([]string{"member", "--help"}, &out, &errOut))
	require.Contains(t, errOut.String(), "-join string")
	require.Contains(t, errOut.String(), "$WEIR_JOIN")
	require.Equal(t, 2, run([]string{"nope"}, &out, &errOut))
	require.Equal(t, 2, run([]string{"member", "--log-level", "loud"}, &out, &errOut))
}
