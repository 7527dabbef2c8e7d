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

var ctxT = clustertest.Ctx

func TestBasicOperationsAcrossMembers(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	a := grid.GetMap[string, int](ms[0], "basic")
	b := grid.GetMap[string, int](ms[1], "basic")

	for i := range 200 {
		require.NoError(t, a.Put(ctx, fmt.Sprintf("k%d", i), i))
	}
	for i := range 200 {
		v, ok, err := b.Get(ctx, fmt.Sprintf("k%d", i))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, i, v)
	}
	n, err := b.Len(ctx)
	require.NoError(t, err)
	require.Equal(t, 200, n)

	_, ok, err := b.Get(ctx, "missing")
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, b.Delete(ctx, "k7"))
	_, ok, err = a.Get(ctx, "k7")
	require.NoError(t, err)
	require.False(t, ok)

	stored, existing, err := a.PutIfAbsent(ctx, "k8", 99)
	require.NoError(t, err)
	require.False(t, stored)
	require.Equal(t, 8, existing)
	stored, _, err = a.PutIfAbsent(ctx, "k7", 77)
	require.NoError(t, err)
	require.True(t, stored)

	swapped, err := b.CompareAndSwap(ctx, "k9", 1, 2)
	require.NoError(t, err)
	require.False(t, swapped)
	swapped, err = b.CompareAndSwap(ctx, "k9", 9, 90)
	require.NoError(t, err)
	require.True(t, swapped)
	v, _, _ := a.Get(ctx, "k9")
	require.Equal(t, 90, v)

	replaced, err := a.Replace(ctx, "nope", 1)
	require.NoError(t, err)
	require.False(t, replaced)
	deleted, err := a.CompareAndDelete(ctx, "k10", 11)
	require.NoError(t, err)
	require.False(t, deleted)
	deleted, err = a.CompareAndDelete(ctx, "k10", 10)
	require.NoError(t, err)
	require.True(t, deleted)

	got, err := b.GetAll(ctx, []string{"k1", "k2", "k10", "zzz"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"k1": 1, "k2": 2}, got)

	require.NoError(t, b.PutAll(ctx, map[string]int{"x": 1, "y": 2, "z": 3}))
	seen := map[string]int{}
	require.NoError(t, a.Scan(ctx, func(k string, v int) bool { seen[k] = v; return true }))
	require.Len(t, seen, 202)
	require.Equal(t, 3, seen["z"])

	require.NoError(t, a.Clear(ctx))
	n, err = b.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestWrongValueTypeIsAnError(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 10*time.Second)
	m := c.Members()[0]
	require.NoError(t, grid.GetMap[string, string](m, "typed").Put(ctx, "k", "text"))
	_, _, err := grid.GetMap[string, int](m, "typed").Get(ctx, "k")
	require.ErrorIs(t, err, grid.ErrWrongType)
	type point struct{ X, Y int }
	_, _, err = grid.GetMap[string, point](m, "typed").Get(ctx, "k")
	require.ErrorIs(t, err, grid.ErrWrongType)
}

func TestSizeLimitsAndClosed(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 10*time.Second)
	m := c.Members()[0]
	mp := grid.GetMap[string, []byte](m, "limits", grid.WithSizeLimits(100, 1000))
	require.ErrorIs(t, mp.Put(ctx, string(make([]byte, 200)), nil), grid.ErrTooLarge)
	require.ErrorIs(t, mp.Put(ctx, "k", make([]byte, 2000)), grid.ErrTooLarge)
	n, err := mp.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing half-applied")
	require.NoError(t, m.Shutdown(ctx))
	require.ErrorIs(t, mp.Put(ctx, "k", nil), grid.ErrClosed)
	_, _, err = mp.Get(ctx, "k")
	require.ErrorIs(t, err, grid.ErrClosed)
}

var incr = grid.RegisterProcessor("test.incr", func(_ string, v int64, _ bool, by int64) (int64, grid.Action, int64, error) {
	return v + by, grid.Set, v + by, nil
})

func TestEntryProcessor(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	var wg sync.WaitGroup
	for _, m := range c.Members() {
		mp := grid.GetMap[string, int64](m, "counters")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, err := grid.Execute(ctx, mp, "c", incr, 1)
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	v, _, err := grid.GetMap[string, int64](c.Members()[0], "counters").Get(ctx, "c")
	require.NoError(t, err)
	require.EqualValues(t, 300, v)
}

func TestTTLExpiresAndEmitsEvents(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	mp := grid.GetMap[string, string](c.Members()[0], "ttl", grid.WithJournal(100))
	var mu sync.Mutex
	var types []grid.EventType
	remove := grid.GetMap[string, string](c.Members()[1], "ttl").AddListener(func(e grid.Event[string, string]) {
		mu.Lock()
		types = append(types, e.Type)
		mu.Unlock()
	})
	defer remove()
	require.NoError(t, mp.PutTTL(ctx, "short", "v", 50*time.Millisecond))
	require.NoError(t, mp.Put(ctx, "long", "v"))
	require.Eventually(t, func() bool {
		_, ok, err := mp.Get(ctx, "short")
		return err == nil && !ok
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(types) == 3 && types[2] == grid.Expired
	}, 10*time.Second, 20*time.Millisecond, "listener sees added, added, expired")
	_, ok, err := mp.Get(ctx, "long")
	require.NoError(t, err)
	require.True(t, ok)
}
