package snapshot_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// BenchmarkSnapshot1M writes, verifies and reads back one snapshot of 1M
// entries (16-byte keys, 32-byte values) on 3 members: one writer per
// member in parallel, as a job with one stateful instance per member
// would; verification from the coordinator; then every member restoring
// the partitions it owns, in parallel. Reported per snapshot, with the
// time of each phase and the bytes stored (once; backups double them).
func BenchmarkSnapshot1M(b *testing.B) {
	const entries = 1_000_000
	c := clustertest.Start(b, 3, member.Config{})
	ms := c.Members()
	ks := make([][]byte, entries)
	for i := range ks {
		k, err := keys.Encode(fmt.Sprintf("%015d", i))
		require.NoError(b, err)
		require.Len(b, k, 16)
		ks[i] = k
	}
	value := make([]byte, 32)
	procs := make([]snapshot.ProcessorID, len(ms))
	stores := make([]*snapshot.Store, len(ms))
	for i, m := range ms {
		procs[i] = snapshot.ProcessorID{Vertex: "agg", Index: i}
		stores[i] = snapshot.OpenStore(m, "bench")
	}
	lc := snapshot.NewLifecycle(snapshot.Completed{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var writeT, verifyT, readT time.Duration
	var stored int64
	var chunks int
	b.SetBytes(entries * (16 + 32))
	b.ResetTimer()
	for range b.N {
		id, slot, err := lc.Begin(procs)
		require.NoError(b, err)
		last, _ := lc.Last()
		b.StopTimer() // clearing the previous snapshots is not part of this one
		require.NoError(b, stores[0].ClearSlot(ctx, slot, last.Manifest))
		b.StartTimer()

		t0 := time.Now()
		var wg sync.WaitGroup
		acks := make([]error, len(ms))
		var mu sync.Mutex
		for i := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := stores[i].Writer(id, slot, procs[i])
				for n := i; n < entries; n += len(ms) {
					if err := w.Put(ks[n], value); err != nil {
						acks[i] = err
						return
					}
					if w.Buffered() > 16<<20 {
						if err := w.Flush(ctx); err != nil {
							acks[i] = err
							return
						}
					}
				}
				refs, count, err := w.Close(ctx)
				if err != nil {
					acks[i] = err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				_, acks[i] = lc.Ack(id, procs[i], refs, count)
			}()
		}
		wg.Wait()
		for _, err := range acks {
			require.NoError(b, err)
		}
		t1 := time.Now()
		require.NoError(b, lc.Verify(id, func(refs []snapshot.ChunkRef) (int, error) { return stores[0].Stored(ctx, refs) }))
		done, err := lc.Commit(id)
		require.NoError(b, err)
		t2 := time.Now()

		var restored atomic.Int64
		errs := make([]error, len(ms))
		for i, m := range ms {
			owned := map[int]bool{}
			for _, p := range m.Partitions().Owned(m.ID()) {
				owned[p] = true
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := int64(0)
				errs[i] = stores[i].Read(ctx, done, "agg", func(p int) bool { return owned[p] }, func(k, v []byte) error {
					n++
					return nil
				})
				restored.Add(n)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(b, err)
		}
		require.Equal(b, int64(entries), restored.Load())
		t3 := time.Now()
		writeT += t1.Sub(t0)
		verifyT += t2.Sub(t1)
		readT += t3.Sub(t2)
		stored, chunks = done.Manifest.Bytes, len(done.Manifest.Chunks)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(writeT.Milliseconds())/n, "write-ms")
	b.ReportMetric(float64(verifyT.Milliseconds())/n, "verify-ms")
	b.ReportMetric(float64(readT.Milliseconds())/n, "read-ms")
	b.ReportMetric(float64(stored)/(1<<20), "stored-MiB")
	b.ReportMetric(float64(chunks), "chunks")
}
