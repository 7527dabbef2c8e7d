package grid

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/codec"
)

func testNearCache() *nearCache[string, string] {
	return newNearCache[string, string](NearCacheConfig{MaxEntries: 100}, 4, codec.For[string]())
}

func encodedKey(t *testing.T, k string) []byte {
	b, err := codec.For[string]().Encode(k)
	require.NoError(t, err)
	return b
}

func cached(c *nearCache[string, string], k string) (string, bool) {
	e, ok := c.entries.Load(k)
	return e.v, ok
}

// Read responses and invalidations of one partition arrive on different
// connections and concurrent goroutines, in any order. Whatever the order,
// the cache must not go back to a value older than one already returned.
func TestNearCacheNeverReplacesANewerRead(t *testing.T) {
	t.Parallel()
	c := testNearCache()
	c.put("k", 1, 6, "new") // a read answered at sequence 6 ...
	c.put("k", 1, 5, "old") // ... then one answered earlier, delivered late
	v, ok := cached(c, "k")
	require.True(t, ok)
	require.Equal(t, "new", v)

	c.put("k", 1, 6, "new") // the same sequence is the same value
	v, _ = cached(c, "k")
	require.Equal(t, "new", v)
}

func TestNearCacheRejectsResponsesOlderThanWhatItKnows(t *testing.T) {
	t.Parallel()
	c := testNearCache()
	c.put("k", 2, 3, "v3")
	// A write to another key of the partition is announced at 8: a response
	// read at 7 may predate a write to k that is still on its way, so it is
	// not cached, and copies older than it are dropped: the caller returns
	// the value read at 7, and must not find v3 afterwards.
	c.invalidate(2, 8, encodedKey(t, "other"))
	c.put("k", 2, 7, "v7")
	_, ok := cached(c, "k")
	require.False(t, ok)

	// A response read at 9 or later is cached.
	c.put("k", 2, 9, "v9")
	v, ok := cached(c, "k")
	require.True(t, ok)
	require.Equal(t, "v9", v)

	// A later read of another key of the partition raises what the cache
	// knows, as an invalidation does.
	c.put("k2", 2, 12, "w")
	c.put("k3", 2, 11, "late")
	_, ok = cached(c, "k3")
	require.False(t, ok)
}

func TestNearCacheInvalidationDropsOlderCopies(t *testing.T) {
	t.Parallel()
	c := testNearCache()
	c.put("k", 0, 4, "v4")
	c.invalidate(0, 4, encodedKey(t, "k")) // the write that produced v4: keep
	_, ok := cached(c, "k")
	require.True(t, ok)
	c.invalidate(0, 5, encodedKey(t, "k"))
	_, ok = cached(c, "k")
	require.False(t, ok)
	c.put("k", 0, 4, "v4") // delivered after the invalidation: stale
	_, ok = cached(c, "k")
	require.False(t, ok)
}

func TestNearCacheAbsentDropsOlderCopies(t *testing.T) {
	t.Parallel()
	c := testNearCache()
	c.put("k", 3, 4, "v4")
	c.absent("k", 3, 6) // a read at 6 found no value: the copy read at 4 is older
	_, ok := cached(c, "k")
	require.False(t, ok)
	c.put("k", 3, 5, "v5") // delivered late
	_, ok = cached(c, "k")
	require.False(t, ok)
}

func TestStripedCounterCountsEveryIncrement(t *testing.T) {
	t.Parallel()
	c := newStripedCounter()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10_000 {
				c.inc()
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 160_000, c.value())
}
