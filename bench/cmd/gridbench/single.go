package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/grid"
)

// singleMember measures workload 1: one member owning every partition, read
// and written through grid.Map from GOMAXPROCS goroutines, against an
// xsync.MapOf holding the same entries, the most a map in this process can
// do.
func singleMember(ctx context.Context, cfg config, prof *harness.Profiler) (harness.Section, error) {
	workers := runtime.GOMAXPROCS(0)
	sec := harness.Section{Title: fmt.Sprintf("1. single member, %d keys, %d goroutines (GOMAXPROCS); reference: xsync.MapOf Load/Store", cfg.keys, workers)}
	data := newDataset(cfg.keys)

	raw := xsync.NewMapOf[string, []byte]()
	for i, k := range data.keys {
		raw.Store(k, data.values[i])
	}
	rawLoad := func(i int) error {
		if _, ok := raw.Load(data.keys[i]); !ok {
			return errMissing(data.keys[i])
		}
		return nil
	}
	// The floor of any Get that returns a value its caller owns: a map
	// holding its own copies of keys and values (as an owner does; raw
	// shares the caller's key strings, so a lookup never reads a stored
	// key), read and copied out. It shows how much of the gap between an
	// owned Get and raw is the copy itself.
	own := xsync.NewMapOf[string, []byte]()
	for i, k := range data.keys {
		own.Store(string([]byte(k)), slices.Clone(data.values[i]))
	}
	ownCopy := func(i int) error {
		v, ok := own.Load(data.keys[i])
		if !ok {
			return errMissing(data.keys[i])
		}
		if c := slices.Clone(v); c[len(c)-1] != v[len(v)-1] {
			return fmt.Errorf("copy of %q differs", data.keys[i])
		}
		return nil
	}
	rawStore := func(i int) error {
		raw.Store(data.keys[i], data.values[i])
		return nil
	}

	c, err := startCluster(ctx, 1, 0)
	if err != nil {
		return sec, err
	}
	defer c.Stop()
	m := c.Members[0]
	plain := grid.GetMap[string, []byte](m, "bench-single")
	if err := preload(ctx, plain, data); err != nil {
		return sec, err
	}
	// Another map for the near cache: its subscription would otherwise make
	// every measured Put also publish an invalidation.
	cached := grid.GetMap[string, []byte](m, "bench-single-near", grid.WithNearCache(grid.NearCacheConfig{MaxEntries: cfg.keys + 1}))
	if err := preload(ctx, cached, data); err != nil {
		return sec, err
	}
	if err := warm(ctx, cached, data); err != nil {
		return sec, err
	}
	get := func(mp *grid.Map[string, []byte]) func(int) error {
		return func(i int) error {
			_, ok, err := mp.Get(ctx, data.keys[i])
			if err == nil && !ok {
				err = errMissing(data.keys[i])
			}
			return err
		}
	}
	put := func(i int) error { return plain.Put(ctx, data.keys[i], data.values[i]) }

	// Each weir measurement alternates with its reference, so both see the
	// same machine.
	pair := func(what, op string, ref, weir func(int) error, t *harness.Target) harness.Row {
		runtime.GC() // start from a clean heap, not amid the last pair's garbage
		var refRate, weirRate rate
		alternate(cfg.rounds, cfg.duration,
			func(d time.Duration, round int) {
				refRate.add(throughput("reference", op, workers, cfg.keys, d, round, ref))
			},
			func(d time.Duration, round int) {
				weirRate.add(throughput("weir", op, workers, cfg.keys, d, round, weir))
			})
		return harness.RatioRow(what, weirRate.perSec(), refRate.perSec(), opsUnit, t, weirRate.err)
	}
	before := cached.NearCacheStats()
	prof.During("single", func() {
		sec.Rows = []harness.Row{
			pair("Get, owned partition", "get", rawLoad, get(plain), harness.AtLeast(0.25)),
			pair("Get, owned partition, vs Load+copy", "get-copy", ownCopy, get(plain), harness.NoTarget),
			pair("Get, near-cache hit", "near", rawLoad, get(cached), harness.AtLeast(0.5)),
			pair("Put, owned partition (no backup)", "put", rawStore, put, harness.NoTarget),
		}
	})
	sec.Notes = append(sec.Notes, "Load+copy: an xsync.MapOf holding its own copies of the keys and values, each Load copying its value out, as a Get returning a value its caller owns must at least do; raw Load neither reads a stored key nor touches the value")
	if misses := cached.NearCacheStats().Misses - before.Misses; misses > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("the near cache missed %d times while measuring hits", misses))
	}
	return sec, nil
}

// warm reads every key through a near-cached handle and checks that the
// cache then holds them all.
func warm(ctx context.Context, mp *grid.Map[string, []byte], data dataset) error {
	for _, k := range data.keys {
		if _, _, err := mp.Get(ctx, k); err != nil {
			return fmt.Errorf("warm the near cache: %w", err)
		}
	}
	if n := mp.NearCacheStats().Entries; n != len(data.keys) {
		return fmt.Errorf("near cache holds %d entries after warming, want %d", n, len(data.keys))
	}
	return nil
}

func errMissing(k string) error { return fmt.Errorf("key %q not found", k) }

// preload stores the dataset in batches of PutAll.
func preload(ctx context.Context, mp *grid.Map[string, []byte], data dataset) error {
	const batch = 1000
	entries := make(map[string][]byte, batch)
	for i, k := range data.keys {
		entries[k] = data.values[i]
		if len(entries) == batch || i == len(data.keys)-1 {
			if err := mp.PutAll(ctx, entries); err != nil {
				return fmt.Errorf("preload %s: %w", mp.Name(), err)
			}
			clear(entries)
		}
	}
	return nil
}
