package grid_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// An increment sent to an owner just before it is paused waits in the
// owner's socket, its client still waiting. The others drop the owner and
// another client goes on incrementing on the new owner. When the paused
// owner resumes, it reads the old request. It must not serve it as the
// owner it was: applied to its old copy and numbered after the pause, the
// old counter is newer than everything the new owner acknowledged, and its
// backup batch (to the new owner, a backup before) and its merge would
// both put the counter back, losing acknowledged increments.
//
// Whether the resumed process reads the request before its stall watcher
// wakes is up to the scheduler (the watcher usually wins: this test did not
// fail without the fix in the runs tried; TestCheckStalledFindsAStall in
// member shows the ordering itself), so it runs as a soak, round after
// round, for as long as WEIR_SOAK says.
func TestStaleOwnerBackFromAPauseSoak(t *testing.T) {
	d := clustertest.Soak(t)
	ps, lite := proctest.StartThree(t, "--min-cluster-size", "2")
	proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID, ps[2].ID)
	deadline := time.Now().Add(d)
	round := 0
	for ; round == 0 || time.Now().Before(deadline); round++ {
		staleOwnerRound(t, ps, lite, fmt.Sprintf("r%d", round))
	}
	t.Logf("%d pauses", round)
}

func staleOwnerRound(t *testing.T, ps [3]*proctest.Proc, lite *member.Member, prefix string) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	mp := grid.GetMap[string, int64](lite, "stale-owner")
	victim := ps[2] // not the coordinator
	var keys []string
	for i := 0; len(keys) < 100; i++ {
		k := fmt.Sprintf("%s-c-%d", prefix, i)
		o, err := mp.Owner(k)
		require.NoError(t, err)
		if o.ID == victim.ID {
			keys = append(keys, k)
		}
	}
	add := func(ctx context.Context, k string) error {
		_, err := grid.Execute(ctx, mp, k, testjobs.Add, 1)
		return err
	}
	for _, k := range keys {
		require.NoError(t, add(ctx, k))
	}

	merging := victim.Watch(regexp.MustCompile(`grid: merging entries`))
	merged := victim.Watch(regexp.MustCompile(`grid: merge after split done`))
	victim.Pause()
	// One increment per counter is sent to the paused owner, where it
	// waits.
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = add(ctx, k) // acknowledged by the resumed owner or retried
		}()
	}
	proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID)
	const more = 5
	for _, k := range keys {
		for range more {
			require.NoError(t, add(ctx, k))
		}
	}
	victim.Resume()
	proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID, ps[2].ID)
	wg.Wait()
	waitMerged(t, victim, merging, merged)
	got, err := mp.GetAll(ctx, keys)
	require.NoError(t, err)
	var lost []string
	for _, k := range keys {
		// 1+more acknowledged, and the one that waited (its outcome
		// unknown if it failed).
		if v := got[k]; v < 1+more || v > 2+more {
			lost = append(lost, fmt.Sprintf("%s=%d", k, v))
		}
	}
	require.Empty(t, lost, "%d of %d counters are not %d or %d", len(lost), len(keys), 1+more, 2+more)
}
