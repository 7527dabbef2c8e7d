package grid_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/member"
)

// BenchmarkOwnedGet reads keys this (only) member owns: the cost of the
// typed API, routing and the partition store, with no network.
func BenchmarkOwnedGet(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	mp := grid.GetMap[string, []byte](c.Members()[0], "bench")
	ctx := context.Background()
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%012d", i)
		if err := mp.Put(ctx, keys[i], make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := mp.Get(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkNearCacheHit reads keys held in the near cache.
func BenchmarkNearCacheHit(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	mp := grid.GetMap[string, []byte](c.Members()[0], "bench", grid.WithNearCache(grid.NearCacheConfig{}))
	ctx := context.Background()
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%012d", i)
		_ = mp.Put(ctx, keys[i], make([]byte, 100))
		_, _, _ = mp.Get(ctx, keys[i])
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := mp.Get(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
