package grid_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// eventLog collects a listener's events.
type eventLog[V any] struct {
	mu  sync.Mutex
	evs []grid.Event[string, V]
}

// listen adds a listener to mp for the rest of the test. Writes made later
// through mp's member are seen by the listener (the subscription travels
// ahead of them on the same connections); writes through other members may
// not be until the subscription has reached the owners.
func listen[V any](t *testing.T, mp *grid.Map[string, V]) *eventLog[V] {
	l := &eventLog[V]{}
	t.Cleanup(mp.AddListener(func(e grid.Event[string, V]) {
		l.mu.Lock()
		l.evs = append(l.evs, e)
		l.mu.Unlock()
	}))
	return l
}

// of returns the events of the given type, by key.
func (l *eventLog[V]) of(typ grid.EventType) map[string][]grid.Event[string, V] {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]grid.Event[string, V]{}
	for _, e := range l.evs {
		if e.Type == typ {
			out[e.Key] = append(out[e.Key], e)
		}
	}
	return out
}

func TestMaxIdleExpiresOnlyIdleEntries(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	// Reads refresh the idle clock with a resolution of a second, so the
	// idle time must be longer than that.
	const maxIdle = 1500 * time.Millisecond
	mp := grid.GetMap[string, string](ms[0], "idle", grid.WithMaxIdle(maxIdle))
	log := listen(t, mp)
	// Owned by other members: reads refresh the clock on the owner.
	idle, read := keyOwnedBy(t, ms[0], "idle", ms[1].ID()), keyOwnedBy(t, ms[0], "read", ms[2].ID())
	// Taken before the put: the owner stamps the entry while the put is
	// on its way, and the answer can take a while on a loaded machine.
	written := time.Now()
	require.NoError(t, mp.Put(ctx, idle, "i"))
	require.NoError(t, mp.Put(ctx, read, "r"))

	// Read one key until well past the idle time; the other, looked for
	// only by scans (which do not count as access), expires.
	tick := time.NewTicker(20 * time.Millisecond) // paces the reads
	defer tick.Stop()
	gone := time.Duration(0)
	for time.Since(written) < maxIdle+time.Second || gone == 0 {
		v, ok, err := mp.Get(ctx, read)
		require.NoError(t, err)
		require.True(t, ok, "%s, read every few milliseconds, expired %v after it was written", read, time.Since(written))
		require.Equal(t, "r", v)
		if gone == 0 {
			seen := map[string]bool{}
			require.NoError(t, mp.Scan(ctx, func(k, _ string) bool { seen[k] = true; return true }))
			require.True(t, seen[read])
			if !seen[idle] {
				gone = time.Since(written)
				require.GreaterOrEqual(t, gone, maxIdle, "%s expired early", idle)
				_, ok, err := mp.Get(ctx, idle)
				require.NoError(t, err)
				require.False(t, ok)
				n, err := mp.Len(ctx)
				require.NoError(t, err)
				require.Equal(t, 1, n, "Len does not count the expired entry")
			}
		}
		require.Less(t, time.Since(written), maxIdle+5*time.Second, "%s never expired", idle)
		<-tick.C
	}
	t.Logf("idle entry gone after %v", gone)
	// The owner's sweeper removes it for good, with an event.
	require.Eventually(t, func() bool { return len(log.of(grid.Expired)[idle]) == 1 }, 5*time.Second, 10*time.Millisecond)
	e := log.of(grid.Expired)[idle][0]
	require.True(t, e.HasOld)
	require.Equal(t, "i", e.Old)
	require.Empty(t, log.of(grid.Expired)[read])
}

func TestMaxEntriesEvicts(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	const limit, written = 300, 3000
	mp := grid.GetMap[string, int](ms[0], "bounded", grid.WithMaxEntries(limit))
	log := listen(t, mp)
	all := map[string]int{}
	for i := range written {
		all[fmt.Sprintf("e%d", i)] = i
	}
	batch := map[string]int{}
	for k, v := range all {
		batch[k] = v
		if len(batch) == 100 {
			require.NoError(t, mp.PutAll(ctx, batch))
			batch = map[string]int{}
		}
	}

	// Each member keeps its share near the limit, and never above it.
	total := 0
	for _, m := range ms {
		n := 0
		for e, err := range grid.GetMap[string, int](m, "bounded").LocalEntries() {
			require.NoError(t, err)
			require.Equal(t, all[e.Key], e.Value)
			n++
		}
		t.Logf("%s owns %d entries", m.Name(), n)
		require.LessOrEqual(t, n, limit)
		require.GreaterOrEqual(t, n, limit/2)
		total += n
	}
	n, err := mp.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, total, n)

	// Every entry written is either still there or was evicted, with an
	// event carrying its value.
	require.Eventually(t, func() bool {
		ev := log.of(grid.Evicted)
		return len(ev) == written-total
	}, 10*time.Second, 10*time.Millisecond, "one eviction event per entry gone")
	evicted := log.of(grid.Evicted)
	require.Len(t, log.of(grid.Added), written)
	keys := make([]string, 0, written)
	for k := range all {
		keys = append(keys, k)
	}
	present, err := mp.GetAll(ctx, keys)
	require.NoError(t, err)
	require.Len(t, present, total)
	for k, v := range all {
		evs := evicted[k]
		if _, ok := present[k]; ok {
			require.Empty(t, evs, "%s is present but was evicted", k)
			continue
		}
		require.Len(t, evs, 1, "%s is gone", k)
		require.True(t, evs[0].HasOld)
		require.Equal(t, v, evs[0].Old)
	}
}

func TestConfigMismatch(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	plain := grid.GetMap[string, int](ms[0], "defined")
	j8 := grid.GetMap[string, int](ms[0], "defined", grid.WithJournal(8))
	j16 := grid.GetMap[string, int](ms[1], "defined", grid.WithJournal(16))
	ttl := grid.GetMap[string, int](ms[1], "defined", grid.WithJournal(8), grid.WithTTL(time.Hour))

	// A write without options defines nothing; the first with options does.
	require.NoError(t, plain.Put(ctx, "k", 1))
	require.NoError(t, j8.Put(ctx, "k", 2))
	err := j16.Put(ctx, "k", 3)
	require.ErrorIs(t, err, grid.ErrConfigMismatch)
	require.ErrorIs(t, ttl.Put(ctx, "k", 3), grid.ErrConfigMismatch)
	_, err = j16.CompareAndSwap(ctx, "k", 2, 3)
	require.ErrorIs(t, err, grid.ErrConfigMismatch)
	require.NoError(t, plain.Put(ctx, "k", 4), "a write without options is accepted")

	// Nothing was applied by the refused writes; the map has the journal it
	// was defined with.
	v, _, err := j16.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, 4, v)
	b, err := j8.Partitioned().ReadJournal(ctx, partitionOf(t, ms[0], "k"), 0, 100)
	require.NoError(t, err)
	require.Len(t, b.Events, 2, "updates by j8 and plain")
}

func TestWrongTypeOnEveryRead(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	// Keys on both members, so both local and remote reads are checked.
	ks := []string{keyOwnedBy(t, ms[0], "typed", ms[0].ID()), keyOwnedBy(t, ms[0], "typed", ms[1].ID())}
	for _, k := range ks {
		require.NoError(t, grid.GetMap[string, string](ms[1], "typed").Put(ctx, k, "text"))
	}
	for _, m := range ms {
		mp := grid.GetMap[string, int64](m, "typed")
		for _, k := range ks {
			_, _, err := mp.Get(ctx, k)
			require.ErrorIs(t, err, grid.ErrWrongType, "get %s on %s", k, m.Name())
			stored, _, err := mp.PutIfAbsent(ctx, k, 1)
			require.ErrorIs(t, err, grid.ErrWrongType, "put-if-absent %s on %s returns the existing value", k, m.Name())
			require.False(t, stored)
		}
		_, err := mp.GetAll(ctx, ks)
		require.ErrorIs(t, err, grid.ErrWrongType)
		err = mp.Scan(ctx, func(string, int64) bool { return true })
		require.ErrorIs(t, err, grid.ErrWrongType)
	}
	// The strings are untouched.
	v, ok, err := grid.GetMap[string, string](ms[0], "typed").Get(ctx, ks[1])
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "text", v)
}

func TestGetAllAndPutAllAcrossOwners(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	a := grid.GetMap[string, int](ms[0], "bulk")
	b := grid.GetMap[string, int](ms[1], "bulk")
	want := map[string]int{}
	owners := map[string]int{}
	for i := range 300 {
		k := fmt.Sprintf("b%d", i)
		want[k] = i
		owners[ownerOf(t, ms[0], k)]++
	}
	require.Len(t, owners, 3, "keys on every member")
	require.NoError(t, a.PutAll(ctx, want))

	asked := []string{"absent-1", "absent-2"}
	for k := range want {
		asked = append(asked, k)
	}
	got, err := b.GetAll(ctx, asked)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// PutAll overwrites; GetAll of nothing is empty.
	update := map[string]int{}
	for k, v := range want {
		if v%2 == 0 {
			update[k] = -v
			want[k] = -v
		}
	}
	require.NoError(t, b.PutAll(ctx, update))
	got, err = grid.GetMap[string, int](ms[2], "bulk").GetAll(ctx, asked)
	require.NoError(t, err)
	require.Equal(t, want, got)
	got, err = a.GetAll(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	n, err := a.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, len(want), n)

	// DeleteAll removes the keys of every owner; absent ones are no error.
	var gone []string
	for k, v := range want {
		if v%3 == 0 {
			gone = append(gone, k)
			delete(want, k)
		}
	}
	require.NoError(t, b.DeleteAll(ctx, append(gone, "absent-1")))
	got, err = a.GetAll(ctx, asked)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, a.DeleteAll(ctx, nil))
}

func TestClearEmitsRemovals(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	mp := grid.GetMap[string, int](ms[1], "clear", grid.WithJournal(1000))
	log := listen(t, mp)
	want := map[string]int{}
	for i := range 200 {
		want[fmt.Sprintf("c%d", i)] = i
	}
	require.NoError(t, mp.PutAll(ctx, want))
	require.Eventually(t, func() bool { return len(log.of(grid.Added)) == len(want) }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, grid.GetMap[string, int](ms[0], "clear").Clear(ctx))
	require.Eventually(t, func() bool { return len(log.of(grid.Removed)) == len(want) }, 5*time.Second, 5*time.Millisecond)
	for k, evs := range log.of(grid.Removed) {
		require.Len(t, evs, 1, k)
		require.True(t, evs[0].HasOld)
		require.Equal(t, want[k], evs[0].Old, k)
	}
	n, err := mp.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// The journals record the removals too, after the additions.
	removed := 0
	for p := range ms[0].PartitionCount() {
		b, err := mp.Partitioned().ReadJournal(ctx, p, 0, 1000)
		require.NoError(t, err)
		live := map[string]bool{}
		for _, e := range b.Events {
			switch e.Type {
			case grid.Added:
				live[e.Key] = true
			case grid.Removed:
				require.True(t, live[e.Key], "%s removed before it was added", e.Key)
				delete(live, e.Key)
				removed++
			}
		}
		require.Empty(t, live, "partition %d", p)
	}
	require.Equal(t, len(want), removed)
}
