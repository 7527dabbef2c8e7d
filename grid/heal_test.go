package grid_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

// When every copy of a partition is cut off in a minority (here the one
// copy, without backups; in general all BackupCount+1 of them), the
// majority takes the partition over empty. What was acknowledged there
// before the split lives only in the minority's copy, so at the heal that
// copy is merged into the owner by version instead of dropped: the
// acknowledged puts come back, and a delete acknowledged by the majority
// meanwhile, of a key it did not hold, still wins over the older copy.
func TestHealMergesTheMinoritysOnlyCopies(t *testing.T) {
	t.Parallel()
	cfg, net := grid.SplitConfig(t)
	cfg.RejoinInterval = 300 * time.Millisecond
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	require.True(t, ms[0].IsCoordinator())
	ctx := ctxT(t, 90*time.Second)
	maj := grid.GetMap[string, int](ms[0], "heal")

	var only []string // keys whose only copy is on the member cut off
	for i := 0; len(only) < 40; i++ {
		k := fmt.Sprintf("k-%d", i)
		if ownerOf(t, ms[0], k) != ms[2].ID() {
			continue
		}
		require.NoError(t, maj.Put(ctx, k, i))
		only = append(only, k)
	}

	net.Split(ms[:2], ms[2:])
	ids := clustertest.DataMembers(ms[:2])
	require.Eventually(t, func() bool {
		return len(ms[2].Members()) == 1 && len(ms[0].Members()) == 2 && len(ms[1].Members()) == 2 &&
			ms[0].Partitions().CheckPlacement(ids, 0) == nil && ms[1].Partitions().CheckPlacement(ids, 0) == nil
	}, time.Minute, 20*time.Millisecond, "the majority never took over the cut-off member's partitions")
	want := map[string]int{}
	for i, k := range only {
		if i%2 == 0 {
			require.NoError(t, maj.Delete(ctx, k), "delete %s", k)
			continue
		}
		var v int
		_, err := fmt.Sscanf(k, "k-%d", &v)
		require.NoError(t, err)
		want[k] = v
	}

	net.Heal()
	c.WaitStable(3)
	// found is what the last look found wrong, for the failure message;
	// the condition runs on testify's goroutine.
	var found atomic.Value
	ok := assert.Eventually(t, func() bool {
		got, err := maj.GetAll(ctx, only)
		if err != nil {
			found.Store(fmt.Sprintf("GetAll: %v", err))
			return false
		}
		var missing []string
		for k := range want {
			if _, ok := got[k]; !ok {
				missing = append(missing, fmt.Sprintf("%s (owner %s)", k, ownerOf(t, ms[0], k)))
			}
		}
		found.Store(fmt.Sprintf("missing %v", missing))
		return len(missing) == 0
	}, time.Minute, 20*time.Millisecond)
	if !ok {
		t.Fatalf("the minority's only copies were not merged back: %v", found.Load())
	}
	for _, m := range ms {
		got, err := grid.GetMap[string, int](m, "heal").GetAll(ctx, only)
		require.NoError(t, err)
		require.Equal(t, want, got, "as read on %s: puts acknowledged before the split, less the majority's deletes", m.Name())
	}
}
