package grid_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// BenchmarkOwnedGet reads keys this (only) member owns: the cost of the
// typed API, routing and the partition store, with no network.
func BenchmarkOwnedGet(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	b.Run("bytes", func(b *testing.B) { benchOwnedGet(b, c.Members()[0], make([]byte, 100)) })
	// A string value shares the stored bytes: no allocation, no copy.
	b.Run("string", func(b *testing.B) { benchOwnedGet(b, c.Members()[0], string(make([]byte, 100))) })
	// With operation stats on, as an ops endpoint turns them (the cost of
	// metrics on the fastest remote-free path).
	grid.EnableStats(c.Members()[0], true)
	b.Run("bytes-stats", func(b *testing.B) { benchOwnedGet(b, c.Members()[0], make([]byte, 100)) })
	grid.EnableStats(c.Members()[0], false)
}

func benchOwnedGet[V any](b *testing.B, m *member.Member, v V) {
	mp := grid.GetMap[string, V](m, fmt.Sprintf("bench-%T", v))
	ctx := context.Background()
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%012d", i)
		if err := mp.Put(ctx, keys[i], v); err != nil {
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

// BenchmarkSingle mirrors gridbench's workload 1 in the package: 100k keys
// of 16 bytes, 100-byte values, read at random, with the reference
// (xsync.MapOf Load of the same keys) beside each, so that the ratio can be
// read off -count runs without building the benchmark module.
func BenchmarkSingle(b *testing.B) {
	const n = 100_000
	c := clustertest.Start(b, 1, member.Config{})
	m := c.Members()[0]
	plain := grid.GetMap[string, []byte](m, "bench-single")
	cached := grid.GetMap[string, []byte](m, "bench-single-near", grid.WithNearCache(grid.NearCacheConfig{MaxEntries: n + 1}))
	// Keys, values and the reference are built first, in tight loops, as
	// gridbench does: the reference gets the most compact memory layout.
	ctx := context.Background()
	keys := make([]string, n)
	values := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%012d", i)
		values[i] = make([]byte, 100)
		values[i][0], values[i][1] = byte(i), byte(i>>8)
	}
	raw := xsync.NewMapOf[string, []byte]()
	for i, k := range keys {
		raw.Store(k, values[i])
	}
	for i, k := range keys {
		for _, mp := range []*grid.Map[string, []byte]{plain, cached} {
			if err := mp.Put(ctx, k, values[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, k := range keys {
		if _, _, err := cached.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, get func(k string) bool) {
		var seeds atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			x := 0x9e3779b97f4a7c15 * (seeds.Add(1))
			for pb.Next() {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				if !get(keys[int((x>>32)*n>>32)]) {
					b.Fatal("missing key")
				}
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		run(b, func(k string) bool { _, ok := raw.Load(k); return ok })
	})
	b.Run("owned", func(b *testing.B) {
		run(b, func(k string) bool { _, ok, err := plain.Get(ctx, k); return ok && err == nil })
	})
	b.Run("near", func(b *testing.B) {
		run(b, func(k string) bool { _, ok, err := cached.Get(ctx, k); return ok && err == nil })
	})
}

// BenchmarkOwnedWrite writes keys this (only) member owns: Put over an
// existing entry, and Put then Delete of a key, which leaves a tombstone
// the sweep purges later (see the package manual).
func BenchmarkOwnedWrite(b *testing.B) {
	c := clustertest.Start(b, 1, member.Config{})
	mp := grid.GetMap[string, []byte](c.Members()[0], "bench-write")
	ctx := context.Background()
	keys := make([]string, 10000)
	v := make([]byte, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%012d", i)
	}
	b.Run("put", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := mp.Put(ctx, keys[i%len(keys)], v); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("put-delete", func(b *testing.B) {
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := fmt.Sprintf("pd-%012d", seq.Add(1))
				if err := mp.Put(ctx, k, v); err != nil {
					b.Fatal(err)
				}
				if err := mp.Delete(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	// A delete of a key that is not there leaves a tombstone too (it may
	// live in a copy cut off in a minority): compare with put.
	b.Run("delete-absent", func(b *testing.B) {
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mp.Delete(ctx, fmt.Sprintf("da-%012d", seq.Add(1))); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
