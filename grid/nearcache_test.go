package grid_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// freshnessBound is how long after a write completes a near cache on
// another member may still serve the value it replaced: the invalidation's
// one-way trip on a loopback connection, with a wide margin for -race.
const freshnessBound = 2 * time.Second

// keyOwnedBy returns a key with the given prefix whose partition owner is id.
func keyOwnedBy(t testing.TB, m *member.Member, prefix, id string) string {
	t.Helper()
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if ownerOf(t, m, k) == id {
			return k
		}
	}
}

// partitionOf returns the partition of key k.
func partitionOf(t testing.TB, m *member.Member, k any) int {
	t.Helper()
	kb, err := keys.Encode(k)
	require.NoError(t, err)
	return keys.Partition(kb, m.PartitionCount())
}

// monotonic checks, across every goroutine reading through one handle, that
// once a read has returned a value, no read that starts later returns an
// older one. Values written to a key only ever increase.
type monotonic struct {
	t    *testing.T
	seen sync.Map // key -> *atomic.Int64: highest value a finished read returned
	bad  atomic.Int64
}

func (mo *monotonic) high(k string) *atomic.Int64 {
	v, _ := mo.seen.LoadOrStore(k, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// read runs get and checks its result against what earlier reads returned.
func (mo *monotonic) read(k string, get func() (int, bool, error)) (int, bool) {
	h := mo.high(k)
	before := h.Load()
	v, ok, err := get()
	if err != nil {
		mo.t.Errorf("get %s: %v", k, err)
		return 0, false
	}
	if !ok {
		if before > 0 {
			mo.fail("read of %s found nothing after a read returned %d", k, before)
		}
		return 0, false
	}
	if int64(v) < before {
		mo.fail("read of %s returned %d after a read returned %d", k, v, before)
	}
	for {
		cur := h.Load()
		if int64(v) <= cur || h.CompareAndSwap(cur, int64(v)) {
			break
		}
	}
	return v, true
}

func (mo *monotonic) fail(format string, args ...any) {
	if mo.bad.Add(1) <= 5 {
		mo.t.Errorf(format, args...)
	}
}

// A near cache on member A, writes through member B: A never goes back to
// an older value once it has returned a newer one, and returns the value of
// a completed write within freshnessBound. Readers on A run concurrently
// with the writes so that reads race with invalidations.
func TestNearCacheFollowsWritesElsewhere(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 60*time.Second)
	a := grid.GetMap[string, int](ms[0], "near", grid.WithNearCache(grid.NearCacheConfig{}))
	b := grid.GetMap[string, int](ms[1], "near")

	// A key owned by each member: A's own partitions invalidate locally.
	var ks []string
	for _, m := range ms {
		ks = append(ks, keyOwnedBy(t, ms[0], "near", m.ID()))
	}
	for _, k := range ks {
		require.NoError(t, b.Put(ctx, k, 0))
	}

	mo := &monotonic{t: t}
	// The readers read around each write, when reads race with its
	// invalidation: the writer wakes them as it starts a write, and they
	// read the key until they see the new value (or give up), then wait.
	type target struct {
		k    string
		v    int
		wake chan struct{} // closed when the next write starts
	}
	var mu sync.Mutex
	cur := target{wake: make(chan struct{})}
	begin := func(k string, v int) {
		mu.Lock()
		defer mu.Unlock()
		close(cur.wake)
		cur = target{k: k, v: v, wake: make(chan struct{})}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopReaders := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopReaders()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen chan struct{}
			for {
				mu.Lock()
				tg := cur
				mu.Unlock()
				if tg.wake == seen {
					select {
					case <-tg.wake:
					case <-stop:
						return
					}
					continue
				}
				seen = tg.wake
				for range 500 {
					if v, _ := mo.read(tg.k, func() (int, bool, error) { return a.Get(ctx, tg.k) }); v >= tg.v {
						break
					}
				}
			}
		}()
	}

	// Writes go on without waiting for A, except every few, when A must
	// catch up within the bound.
	const writes = 600
	var slowest time.Duration
	for i := 1; i <= writes && !t.Failed(); i++ {
		k := ks[i%len(ks)]
		begin(k, i)
		require.NoError(t, b.Put(ctx, k, i))
		if i%5 != 0 {
			continue
		}
		done := time.Now()
		deadline := done.Add(freshnessBound)
		for {
			v, _ := mo.read(k, func() (int, bool, error) { return a.Get(ctx, k) })
			if v == i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("near cache on %s still returns %s=%d %v after the write of %d completed", ms[0].Name(), k, v, freshnessBound, i)
			}
		}
		slowest = max(slowest, time.Since(done))
	}
	stopReaders()
	require.Zero(t, mo.bad.Load(), "reads went back to older values")
	st := a.NearCacheStats()
	t.Logf("slowest catch-up %v; near cache %+v", slowest, st)
	require.Positive(t, st.Hits)
	require.Positive(t, st.Invalidations)
}

// Hits, misses, invalidations and evictions count what the cache did.
func TestNearCacheStats(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	b := grid.GetMap[string, int](ms[1], "near-stats")
	ks := make([]string, 10)
	for i := range ks {
		ks[i] = fmt.Sprintf("s%d", i)
		require.NoError(t, b.Put(ctx, ks[i], i))
	}
	// Created after the writes: they are not invalidations to it.
	a := grid.GetMap[string, int](ms[0], "near-stats", grid.WithNearCache(grid.NearCacheConfig{}))
	require.Equal(t, grid.NearCacheStats{}, a.NearCacheStats())

	get := func(k string, want int) {
		t.Helper()
		v, ok, err := a.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, v)
	}
	for i, k := range ks {
		get(k, i)
	}
	require.Equal(t, grid.NearCacheStats{Misses: 10, Entries: 10}, a.NearCacheStats(), "first reads miss and are cached")
	for i, k := range ks {
		get(k, i)
	}
	require.Equal(t, grid.NearCacheStats{Hits: 10, Misses: 10, Entries: 10}, a.NearCacheStats(), "second reads hit")

	for range 2 {
		_, ok, err := a.Get(ctx, "absent")
		require.NoError(t, err)
		require.False(t, ok)
	}
	require.Equal(t, grid.NearCacheStats{Hits: 10, Misses: 12, Entries: 10}, a.NearCacheStats(), "absent keys are not cached")

	got, err := a.GetAll(ctx, ks[:4])
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, int64(14), a.NearCacheStats().Hits, "get-all is served from the cache")

	require.NoError(t, b.Put(ctx, ks[3], 33))
	require.Eventually(t, func() bool { return a.NearCacheStats().Invalidations == 1 }, freshnessBound, time.Millisecond)
	require.Equal(t, grid.NearCacheStats{Hits: 14, Misses: 12, Invalidations: 1, Entries: 9}, a.NearCacheStats(), "the invalidation drops the entry")
	get(ks[3], 33)
	get(ks[3], 33)
	require.Equal(t, grid.NearCacheStats{Hits: 15, Misses: 13, Invalidations: 1, Entries: 10}, a.NearCacheStats(), "read again once, then cached")

	small := grid.GetMap[string, int](ms[0], "near-stats", grid.WithNearCache(grid.NearCacheConfig{MaxEntries: 4}))
	for _, k := range ks {
		_, _, err := small.Get(ctx, k)
		require.NoError(t, err)
	}
	st := small.NearCacheStats()
	require.LessOrEqual(t, st.Entries, 4)
	require.Positive(t, st.Evictions)
	require.Equal(t, int64(10), st.Misses)
}

// Entries of partitions that change owner are dropped; the others stay; and
// after the move the cache still follows writes.
func TestNearCacheDropsPartitionsThatChangeOwner(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 60*time.Second)
	a := grid.GetMap[string, int](ms[0], "near-move", grid.WithNearCache(grid.NearCacheConfig{}))
	b := grid.GetMap[string, int](ms[1], "near-move")
	const n = 300
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("m%d", i)
		require.NoError(t, b.Put(ctx, ks[i], i))
	}
	for _, k := range ks {
		_, _, err := a.Get(ctx, k)
		require.NoError(t, err)
	}
	require.Equal(t, n, a.NearCacheStats().Entries)
	before := ms[0].Partitions()

	c.Add(func(*member.Config) {})
	c.WaitStable(4)
	after := ms[0].Partitions()
	moved := map[string]bool{}
	for _, k := range ks {
		p := partitionOf(t, ms[0], k)
		moved[k] = before.Owner(p) != after.Owner(p)
	}

	kept := 0
	for i, k := range ks {
		hits := a.NearCacheStats().Hits
		v, ok, err := a.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, i, v)
		hit := a.NearCacheStats().Hits > hits
		if moved[k] {
			require.False(t, hit, "%s: its partition changed owner, yet it was still cached", k)
		} else {
			require.True(t, hit, "%s: its partition kept its owner, yet it was dropped", k)
			kept++
		}
	}
	t.Logf("%d of %d keys kept their owner", kept, n)
	require.Positive(t, kept)
	require.Less(t, kept, n)

	// The new owners invalidate the cache too.
	for i, k := range ks {
		require.NoError(t, b.Put(ctx, k, n+i))
	}
	for i, k := range ks {
		require.Eventually(t, func() bool {
			v, _, err := a.Get(ctx, k)
			return err == nil && v == n+i
		}, freshnessBound, time.Millisecond, "%s (moved: %v)", k, moved[k])
	}
}

// An entry is served from the cache for at most the cache's TTL.
func TestNearCacheTTL(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	const ttl = 200 * time.Millisecond
	a := grid.GetMap[string, int](ms[0], "near-ttl", grid.WithNearCache(grid.NearCacheConfig{TTL: ttl}))
	require.NoError(t, a.Put(ctx, "k", 1))

	start := time.Now()
	_, _, err := a.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, int64(1), a.NearCacheStats().Misses)
	_, _, err = a.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, int64(1), a.NearCacheStats().Hits, "served from the cache within the TTL")

	require.Eventually(t, func() bool {
		v, ok, err := a.Get(ctx, "k")
		return err == nil && ok && v == 1 && a.NearCacheStats().Misses == 2
	}, 5*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), ttl, "served from the owner again only after the TTL")
	hits := a.NearCacheStats().Hits
	_, _, err = a.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, hits+1, a.NearCacheStats().Hits, "and cached again")
}

// A handle with a near cache reads its own writes at once, without waiting
// for the owner's invalidation: here the invalidations never arrive, and
// the write's response alone drops the value it replaced.
func TestNearCacheReadsItsOwnWrites(t *testing.T) {
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	c := clustertest.Start(t, 2, cfg)
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	mp := grid.GetMap[string, string](ms[0], "own-writes", grid.WithNearCache(grid.NearCacheConfig{}))
	k := keyOwnedBy(t, ms[0], "k", ms[1].ID())
	require.NoError(t, mp.Put(ctx, k, "v0"))
	net.SetFrames(func(f member.Frame) member.Fault {
		return member.Fault{Drop: f.Route == "map.events"} // no invalidation arrives
	})
	defer net.SetFrames(nil)
	for i := 1; i <= 5; i++ {
		v, ok, err := mp.Get(ctx, k) // cached
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("v%d", i-1), v)
		require.NoError(t, mp.Put(ctx, k, fmt.Sprintf("v%d", i)))
	}
	require.NoError(t, mp.PutAll(ctx, map[string]string{k: "all"}))
	v, _, err := mp.Get(ctx, k)
	require.NoError(t, err)
	require.Equal(t, "all", v)
	require.NoError(t, mp.Delete(ctx, k))
	_, ok, err := mp.Get(ctx, k)
	require.NoError(t, err)
	require.False(t, ok)
}
