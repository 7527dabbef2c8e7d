package grid_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// A string value read by Get shares the memory it was read from (a stored
// value or a received message) instead of being copied: an owned Get of a
// string allocates nothing, and a string read before a write still reads
// as it did, on the owner and on another member.
func TestGetOfAStringSharesNothingThatChanges(t *testing.T) {
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	ms := c.Members()
	maps := []*grid.Map[string, string]{grid.GetMap[string, string](ms[0], "shared"), grid.GetMap[string, string](ms[1], "shared")}
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		require.NoError(t, maps[0].Put(ctx, keys[i], "first "+keys[i]))
	}
	var read [2][]string
	for m, mp := range maps {
		for _, k := range keys {
			v, ok, err := mp.Get(ctx, k)
			require.NoError(t, err)
			require.True(t, ok)
			read[m] = append(read[m], v)
		}
	}
	for _, k := range keys {
		require.NoError(t, maps[1].Put(ctx, k, "later "+k+" with a longer value"))
	}
	for m := range maps {
		for i, k := range keys {
			require.Equal(t, "first "+k, read[m][i], "a value read on member %d changed with a later write", m)
			v, _, err := maps[m].Get(ctx, k)
			require.NoError(t, err)
			require.Equal(t, "later "+k+" with a longer value", v)
		}
	}

	owned := ""
	for _, k := range keys {
		if ownerOf(t, ms[0], k) == ms[0].ID() {
			owned = k
			break
		}
	}
	require.NotEmpty(t, owned, "member 0 owns none of %d keys", len(keys))
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if _, _, err := maps[0].Get(ctx, owned); err != nil {
			t.Error(err)
		}
	}), "an owned Get of a string value allocates")

	// A []byte value is the caller's own: changing it changes nothing stored.
	bytesMap := grid.GetMap[string, []byte](ms[0], "shared-bytes")
	require.NoError(t, bytesMap.Put(ctx, owned, []byte("abc")))
	b, _, err := bytesMap.Get(ctx, owned)
	require.NoError(t, err)
	b[0] = 'X'
	again, _, err := bytesMap.Get(ctx, owned)
	require.NoError(t, err)
	require.Equal(t, []byte("abc"), again)
}
