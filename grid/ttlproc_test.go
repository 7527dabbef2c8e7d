package grid_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// ttlArg asks testTTL to store Value with TTL, or, with Keep, to store
// Value and keep the entry's expiry.
type ttlArg struct {
	Value string
	TTL   time.Duration
	Keep  bool
}

// testTTL stores its argument's value with the expiry it asks for, and
// returns the time to live the entry had.
var testTTL = grid.RegisterTTLProcessor("grid_test.ttl", func(_ string, _ string, exists bool, ttl time.Duration, a ttlArg) (string, time.Duration, grid.Action, time.Duration, error) {
	if a.Keep {
		return a.Value, ttl, grid.Set, ttl, nil
	}
	return a.Value, a.TTL, grid.Set, ttl, nil
})

// A TTL processor sees the time an entry has left and sets it: it keeps an
// expiry, clears it and sets a new one, and the expiry it sets reaches the
// member that takes the partition over when the owner leaves.
func TestTTLProcessorSeesAndSetsExpiry(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := clustertest.Ctx(t, 30*time.Second)
	// Owned by the member that leaves, so that the backup serves it after.
	k := keyOwnedBy(t, ms[0], "k", ms[1].ID())
	mp := grid.GetMap[string, string](ms[0], "ttlproc")

	left, err := grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "a", TTL: time.Hour})
	require.NoError(t, err)
	require.Zero(t, left, "no entry: no time to live")
	left, err = grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "b", Keep: true})
	require.NoError(t, err)
	require.InDelta(t, float64(time.Hour), float64(left), float64(time.Minute))
	left, err = grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "c", Keep: true})
	require.NoError(t, err)
	require.InDelta(t, float64(time.Hour), float64(left), float64(time.Minute), "kept, not reset to none")

	// Cleared: the entry never expires.
	_, err = grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "d"})
	require.NoError(t, err)
	left, err = grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "e", Keep: true})
	require.NoError(t, err)
	require.Zero(t, left)

	// A short one, set on the owner, expires on the member that takes over.
	_, err = grid.Execute(ctx, mp, k, testTTL, ttlArg{Value: "f", TTL: 1500 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, ms[1].Shutdown(ctx))
	v, ok, err := mp.Get(ctx, k)
	require.NoError(t, err)
	require.True(t, ok, "the new owner holds the entry until it expires")
	require.Equal(t, "f", v)
	require.Eventually(t, func() bool {
		_, ok, err := mp.Get(ctx, k)
		return err == nil && !ok
	}, 10*time.Second, 50*time.Millisecond)
}
