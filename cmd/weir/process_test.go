package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/proctest"
)

// Three member processes; kill -9 one; the other two converge on two
// members and a full, balanced table. An in-process lite member observes.
func TestKilledProcessIsRemovedAndPartitionsRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ps, obs := proctest.StartThree(t)
	p1, p2, p3 := ps[0], ps[1], ps[2]
	before := proctest.WaitTable(t, obs, p1.ID, p2.ID, p3.ID)

	start := time.Now()
	p2.Kill()
	after := proctest.WaitTable(t, obs, p1.ID, p3.ID)
	t.Logf("kill -9 to converged table: %v (v%d -> v%d)", time.Since(start), before.Version(), after.Version())
	for _, p := range before.Owned(p2.ID) {
		require.Contains(t, []string{p1.ID, p3.ID}, after.Owner(p))
	}

	// The survivors print the new view, and stop gracefully.
	require.Eventually(t, func() bool {
		return bytes.Contains([]byte(p1.Output()), []byte("members (3):")) // p1, p3 and the observer
	}, 10*time.Second, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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
