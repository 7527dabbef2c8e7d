package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/weir-dev/weir"
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
	m, _ := weir.Start(ctx, cfg)
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

// An input that finishes counts as having delivered every later barrier:
// here it completes the alignment the other inputs began.
func ExampleAligner_Done() {
	a := snapshot.NewAligner(3, snapshot.ExactlyOnce)
	_, _ = a.Barrier(0, 1)
	_, _ = a.Barrier(1, 1)
	fmt.Println("blocked:", a.Blocked(0), a.Blocked(1), a.Blocked(2))
	d := a.Done(2) // input 2's producer finished before its barrier 1
	fmt.Println("complete:", d.Complete, d.ID, "blocked 0:", a.Blocked(0))
	d, _ = a.Barrier(0, 2)
	fmt.Println("barrier 2 on input 0:", d.Complete)
	d, _ = a.Barrier(1, 2)
	fmt.Println("barrier 2 on input 1:", d.Complete, d.ID)
	// Output:
	// blocked: true true false
	// complete: true 1 blocked 0: false
	// barrier 2 on input 0: false
	// barrier 2 on input 1: true 2
}

// At least once, nothing blocks, so a fast input can deliver barrier N+1
// before a slow one delivered N. That proves the coordinator gave N up: N+1
// supersedes it, and N's late barrier is ignored.
func ExampleAligner_atLeastOnce() {
	a := snapshot.NewAligner(2, snapshot.AtLeastOnce)
	_, _ = a.Barrier(0, 1)
	fmt.Println("blocked 0:", a.Blocked(0))
	d, _ := a.Barrier(0, 2)
	fmt.Println("abandoned:", d.Abandoned)
	d, _ = a.Barrier(1, 1) // late: snapshot 1 is over
	fmt.Println("late barrier 1:", d.Complete)
	d, _ = a.Barrier(1, 2)
	fmt.Println("barrier 2:", d.Complete, d.ID)
	// Output:
	// blocked 0: false
	// abandoned: 1
	// late barrier 1: false
	// barrier 2: true 2
}
