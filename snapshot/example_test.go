package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// One snapshot of a job with a source and a keyed aggregator, from Begin to
// a restore, on a single member.
func Example() {
	ctx := context.Background()
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, _ := member.Start(ctx, cfg)
	defer m.Shutdown(ctx)

	source := snapshot.ProcessorID{Vertex: "source", Index: 0}
	counts := snapshot.ProcessorID{Vertex: "counts", Index: 0}
	store := snapshot.OpenStore(m, "job-1")
	lc := snapshot.NewLifecycle(snapshot.Completed{}) // or the job record's last one

	// The coordinator starts snapshot 1 and frees its slot.
	id, slot, _ := lc.Begin([]snapshot.ProcessorID{source, counts})
	last, _ := lc.Last()
	_ = store.ClearSlot(ctx, slot, last.Manifest)

	// Each processor, on the barrier, saves its state and acknowledges.
	w := store.Writer(id, slot, source)
	_ = w.PutBroadcast([]byte("offset"), []byte("42"))
	chunks, entries, _ := w.Close(ctx)
	_, _ = lc.Ack(id, source, chunks, entries)

	w = store.Writer(id, slot, counts)
	for _, truck := range []string{"truck-7", "truck-9"} {
		k, _ := keys.Encode(truck)
		_ = w.Put(k, []byte("3"))
	}
	chunks, entries, _ = w.Close(ctx)
	allAcked, _ := lc.Ack(id, counts, chunks, entries)

	// The coordinator verifies and commits; the job record keeps done.
	err := lc.Verify(id, func(refs []snapshot.ChunkRef) (int, error) { return store.Stored(ctx, refs) })
	done, _ := lc.Commit(id)
	fmt.Println("all acked:", allAcked, "verified:", err == nil, "snapshot", done.ID, "entries", done.Manifest.Entries)

	// After a restart, each instance reads the entries of the partitions it
	// now owns (here: all of them).
	var restored []string
	_ = store.Read(ctx, done, "counts", func(int) bool { return true }, func(k, v []byte) error {
		var truck string
		_ = wire.Unmarshal(k, &truck)
		restored = append(restored, truck+" "+string(v))
		return nil
	})
	slices.Sort(restored) // read in partition order
	fmt.Println(strings.Join(restored, "\n"))
	// Output:
	// all acked: true verified: true snapshot 1 entries 3
	// truck-7 3
	// truck-9 3
}

// Barriers aligned on a consumer with two inputs, exactly once.
func ExampleAligner() {
	a := snapshot.NewAligner(2, snapshot.ExactlyOnce)
	d, _ := a.Barrier(0, 1)
	fmt.Println("after input 0:", d.Complete, "blocked 0:", a.Blocked(0))
	d, _ = a.Barrier(1, 1)
	fmt.Println("after input 1:", d.Complete, d.ID, "blocked 0:", a.Blocked(0))
	// Output:
	// after input 0: false blocked 0: true
	// after input 1: true 1 blocked 0: false
}
