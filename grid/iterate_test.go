package grid_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// All and LocalEntries show what went wrong: an entry of another type in
// its place (and the loop may go on past it), an error that ends the
// iteration last.
func TestIterationYieldsItsErrors(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	ints := grid.GetMap[string, int](ms[0], "mixed")
	for i := range 40 {
		require.NoError(t, ints.Put(ctx, fmt.Sprintf("int-%d", i), i))
	}
	strs := grid.GetMap[string, string](ms[0], "mixed")
	for i := range 5 {
		require.NoError(t, strs.Put(ctx, fmt.Sprintf("str-%d", i), "not an int"))
	}

	count := func(seq func(func(grid.Entry[string, int], error) bool)) (entries, wrongType int) {
		for e, err := range seq {
			if err != nil {
				require.ErrorIs(t, err, grid.ErrWrongType)
				wrongType++
				continue
			}
			require.Equal(t, fmt.Sprintf("int-%d", e.Value), e.Key)
			entries++
		}
		return entries, wrongType
	}
	t.Run("All", func(t *testing.T) {
		entries, wrongType := count(grid.GetMap[string, int](ms[1], "mixed").All(ctx))
		require.Equal(t, 40, entries)
		require.Equal(t, 5, wrongType)
	})
	t.Run("LocalEntries", func(t *testing.T) {
		entries, wrongType := 0, 0
		for _, m := range ms {
			e, w := count(grid.GetMap[string, int](m, "mixed").LocalEntries())
			entries, wrongType = entries+e, wrongType+w
		}
		require.Equal(t, 40, entries)
		require.Equal(t, 5, wrongType)
	})
	t.Run("an error ends All", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		var errs []error
		for e, err := range ints.All(done) {
			require.Zero(t, e)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], context.Canceled)
	})
	t.Run("Scan stops at an entry of another type", func(t *testing.T) {
		require.ErrorIs(t, ints.Scan(ctx, func(string, int) bool { return true }), grid.ErrWrongType)
	})
}

// The loop body of All, and Scan's function, run on the caller's
// goroutine: a panic in them reaches the caller, who can recover it, and
// nothing keeps running after the call (goleak checks in TestMain).
func TestIterationRunsOnTheCallersGoroutine(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	mp := grid.GetMap[int, int](ms[0], "iterated")
	for i := range 500 {
		require.NoError(t, mp.Put(ctx, i, i))
	}
	recovered := func(iterate func()) (r any) {
		defer func() { r = recover() }()
		iterate()
		return nil
	}
	for name, iterate := range map[string]func(){
		"All": func() {
			for range grid.GetMap[int, int](ms[1], "iterated").All(ctx) {
				panic("boom")
			}
		},
		"Scan": func() {
			_ = grid.GetMap[int, int](ms[1], "iterated").Scan(ctx, func(int, int) bool { panic("boom") })
		},
	} {
		require.Equal(t, "boom", recovered(iterate), name)
	}

	seen := 0
	for _, err := range mp.All(ctx) {
		require.NoError(t, err)
		if seen++; seen == 10 {
			break
		}
	}
	require.Equal(t, 10, seen)
}
