package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/grid"
)

// memoryFootprint measures workload 3: the process heap that cfg.entries
// entries cost in a three-member cluster with BackupCount 1, where every
// entry is stored twice (owner + backup), against one xsync.MapOf holding
// each entry once.
//
//	per copy = heap delta / copies   (weir: copies = 2 x entries; reference: entries)
//	overhead = per copy - (keySize + valueSize)
//
// The heap is HeapAlloc after runtime.GC, over the whole process: all three
// members, their connections and buffers, and the benchmark itself, which
// holds no entries once loading ends.
func memoryFootprint(ctx context.Context, cfg config, prof *harness.Profiler) (harness.Section, error) {
	n := cfg.entries
	raw := float64(keySize + valueSize)
	sec := harness.Section{Title: fmt.Sprintf("3. memory: %d entries of %d-byte keys and %d-byte values; weir: 3 members, BackupCount 1 (2 copies an entry); reference: one xsync.MapOf[string, []byte]",
		n, keySize, valueSize)}

	refDelta := heapDelta(func() any {
		m := xsync.NewMapOf[string, []byte]()
		for i := range n {
			m.Store(key(i), value(i))
		}
		return m
	})
	refPerCopy := float64(refDelta) / float64(n)

	c, err := startCluster(ctx, 3, 0)
	if err != nil {
		return sec, err
	}
	defer c.Stop()
	mp := grid.GetMap[string, []byte](c.Members[0], "bench-memory")
	var loadErr error
	delta := heapDelta(func() any {
		loadErr = loadParallel(ctx, mp, n)
		return nil
	})
	if loadErr != nil {
		return sec, loadErr
	}
	prof.Heap()
	if got, err := mp.Len(ctx); err != nil || got != n {
		return sec, fmt.Errorf("map holds %d entries after loading %d (%v)", got, n, err)
	}
	perCopy := float64(delta) / float64(2*n)

	sec.Rows = []harness.Row{
		harness.RatioRow("heap per stored copy", perCopy, refPerCopy, bytesUnit, harness.NoTarget, nil),
		harness.RatioRow("  beyond key+value bytes", perCopy-raw, refPerCopy-raw, bytesUnit, harness.AbsAtMost(100, bytesUnit), nil),
	}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("weir heap delta %.1f MiB for %d copies: per copy = delta / (2 x %d), overhead = per copy - %d B",
			float64(delta)/(1<<20), 2*n, n, keySize+valueSize),
		fmt.Sprintf("reference heap delta %.1f MiB for %d entries: per copy = delta / %d, overhead = per copy - %d B",
			float64(refDelta)/(1<<20), n, n, keySize+valueSize),
		"weir keeps keys and values msgpack-encoded (17 + 102 bytes here), so those 3 header bytes count as overhead")
	return sec, nil
}

// heapDelta returns the growth of the live heap (HeapAlloc after a full
// collection) across load, keeping what load returns alive until measured.
func heapDelta(load func() any) int64 {
	before := liveHeap()
	kept := load()
	after := liveHeap()
	runtime.KeepAlive(kept)
	return int64(after) - int64(before)
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// loadParallel stores entries 0..n-1 with PutAll batches from a few
// goroutines, generating each batch as it goes so the loader holds nothing
// afterwards.
func loadParallel(ctx context.Context, mp *grid.Map[string, []byte], n int) error {
	const batch = 2000
	workers := max(2, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries := make(map[string][]byte, batch)
			for lo := w * batch; lo < n; lo += workers * batch {
				clear(entries)
				for i := lo; i < min(lo+batch, n); i++ {
					entries[key(i)] = value(i)
				}
				if err := mp.PutAll(ctx, entries); err != nil {
					errs[w] = fmt.Errorf("load %s: %w", mp.Name(), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
