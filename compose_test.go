package weir_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}

// A member started without the grid, as a binary that composes only the
// bare member would be, is refused as a data member: the coordinator would
// otherwise give it partitions it cannot hold. As a lite member it joins.
func TestDataMemberWithoutGridIsRefusedAtJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seed, err := weir.Start(ctx, clustertest.Config(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = seed.Shutdown(context.Background()) })

	cfg := clustertest.Config(t)
	cfg.Join = []string{seed.Addr()}
	cfg.RejoinInterval = 0
	cfg.Gossip.TCPTimeout = 500 * time.Millisecond
	bare, err := member.Start(ctx, cfg)
	if bare != nil {
		_ = bare.Shutdown(ctx)
	}
	require.ErrorIs(t, err, member.ErrJoin)
	require.ErrorContains(t, err, "services mismatch")
	require.ErrorContains(t, err, "serves [grid dag]")
	require.Len(t, seed.Members(), 1, "the bare data member was let in")
	require.Len(t, seed.Partitions().Owned(seed.ID()), seed.PartitionCount())

	// The same data member with the grid but not the jobs is refused too.
	onlyGrid, err := member.Start(ctx, cfg, grid.Service())
	if onlyGrid != nil {
		_ = onlyGrid.Shutdown(ctx)
	}
	require.ErrorContains(t, err, "services mismatch")

	cfg.Lite = true
	lite, err := member.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lite.Shutdown(context.Background()) })
	require.Len(t, seed.Members(), 2)
	require.Panics(t, func() { grid.GetMap[string, int](lite, "m") }, "a member without the grid has no maps")

	// A full data member joins and takes its share of the partitions.
	cfg.Lite = false
	full, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = full.Shutdown(context.Background()) })
	require.NoError(t, grid.GetMap[string, int](full, "m").Put(ctx, "k", 1))
	v, ok, err := grid.GetMap[string, int](seed, "m").Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, v)
}
