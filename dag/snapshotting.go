package dag

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/snapshot"
)

// Snapshotter is implemented by processors with state. When a snapshot's
// barrier reaches the processor, after every item before it, the engine
// calls SaveSnapshot; it may return false to be called again (to emit
// pending output first). On a restart, RestoreSnapshot receives every entry
// this instance is now responsible for before any item: the keyed entries
// whose key's partition routes to it, and every broadcast entry of its
// vertex, whichever instance saved them.
type Snapshotter interface {
	SaveSnapshot(w *SnapshotWriter) (done bool, err error)
	RestoreSnapshot(key, value []byte) error
}

// RestoreFinisher is implemented by processors that act once all their
// entries are restored (a sink committing prepared transactions).
type RestoreFinisher interface {
	FinishRestore() error
}

// Committer is implemented by processors with effects outside the grid (a
// sink writing files) that take part in two-phase commit: SaveSnapshot
// prepares (makes what was written so far durable but not visible, and
// records in the snapshot what committing needs); CommitSnapshot is called
// once the snapshot completed in the whole cluster and makes it visible. It
// must be idempotent: after a failure it may be called again, from the
// restored state.
type Committer interface {
	CommitSnapshot(id uint64) error
}

// SnapshotWriter saves a processor's state into the snapshot being taken.
type SnapshotWriter struct {
	w   *snapshot.Writer
	id  uint64
	ctx context.Context
}

// snapshotBuffer is how much encoded state a processor's snapshot holds in
// memory before it writes the chunks out: a state of millions of keys is
// written as it is saved, not all at the end.
const snapshotBuffer = 8 << 20

// ID is the snapshot's id: what CommitSnapshot later receives.
func (w *SnapshotWriter) ID() uint64 { return w.id }

// Put saves a keyed entry. key must be the canonical encoding of the state's
// key (use SaveEntry): on restore, the entry goes to the instance that will
// receive that key's items.
func (w *SnapshotWriter) Put(key, value []byte) error {
	if err := w.w.Put(key, value); err != nil {
		return err
	}
	if w.w.Buffered() > snapshotBuffer {
		return w.w.Flush(w.ctx)
	}
	return nil
}

// PutBroadcast saves an entry every instance of the vertex receives on
// restore (such as source positions, which each instance filters).
func (w *SnapshotWriter) PutBroadcast(key, value []byte) error { return w.w.PutBroadcast(key, value) }

// SaveEntry saves state under key with value encoded as msgpack.
func SaveEntry[K comparable, V any](w *SnapshotWriter, key K, value V) error {
	kb, err := codec.For[K]().Encode(key)
	if err != nil {
		return fmt.Errorf("snapshot key: %w", err)
	}
	vb, err := keys.Encode(value)
	if err != nil {
		return fmt.Errorf("snapshot value: %w", err)
	}
	return w.Put(kb, vb)
}

// SaveBroadcast saves a broadcast entry with key and value encoded as
// msgpack.
func SaveBroadcast[K, V any](w *SnapshotWriter, key K, value V) error {
	kb, err := keys.Encode(key)
	if err != nil {
		return fmt.Errorf("snapshot key: %w", err)
	}
	vb, err := keys.Encode(value)
	if err != nil {
		return fmt.Errorf("snapshot value: %w", err)
	}
	return w.PutBroadcast(kb, vb)
}

// LoadEntry decodes an entry saved with SaveEntry or SaveBroadcast.
func LoadEntry[K, V any](key, value []byte) (K, V, error) {
	var k K
	var v V
	if err := wire.Unmarshal(key, &k); err != nil {
		return k, v, fmt.Errorf("snapshot key: %w", err)
	}
	if err := wire.Unmarshal(value, &v); err != nil {
		return k, v, fmt.Errorf("snapshot value: %w", err)
	}
	return k, v, nil
}

// barrierItem marks the point of snapshot id in every stream.
// It carries the round's storage slot, so that a member whose processors
// see the barrier (from another member) before the coordinator's word that
// the round began still knows where to save.
// A terminal barrier also carries the word that the snapshot is terminal,
// so a processor stops after it even if it saw it first.
type barrierItem round

// noteRound records a round a barrier announces.
func (ex *execution) noteRound(b barrierItem) {
	if ex.snap != nil {
		ex.rounds.LoadOrStore(b.id, round(b))
	}
}

func (barrierItem) isControl() {}

// round is a snapshot being taken on a member.
type round struct {
	id   uint64
	slot int
	// terminal: the execution stops at this snapshot (Job.Suspend,
	// Job.CancelAndExportSnapshot). A processor that forwarded its barrier
	// emits nothing more: its sources read nothing more, so every sink holds
	// exactly the snapshot's output.
	terminal bool
}

// snapshots is an execution's side of the snapshot protocol.
type snapshots struct {
	mode    snapshot.Mode
	store   *snapshot.Store
	current atomic.Pointer[round] // the latest barrier injected at the sources
	commit  atomic.Uint64         // the latest snapshot completed in the cluster
}

// saveState saves a processor's state for a round and acknowledges it to
// the coordinator. It reports false while the processor still needs calls
// (output to flush first).
func (t *tasklet) saveState(ex *execution, r round) (bool, error) {
	if t.saving == nil {
		t.saving = &SnapshotWriter{id: r.id, ctx: ex.ctx, w: ex.snap.store.Writer(r.id, r.slot, snapshot.ProcessorID{Vertex: t.ctx.Vertex, Index: t.ctx.GlobalIndex})}
	}
	if s, ok := t.p.(Snapshotter); ok {
		done, err := s.SaveSnapshot(t.saving)
		if err != nil || !done {
			return false, err
		}
	}
	chunks, entries, err := t.saving.w.Close(ex.ctx)
	t.saving = nil
	if err != nil {
		return false, fmt.Errorf("save snapshot %d: %w", r.id, err)
	}
	ex.ack(r, snapshot.ProcessorID{Vertex: t.ctx.Vertex, Index: t.ctx.GlobalIndex}, chunks, entries)
	return true, nil
}

// restore feeds the processor its entries of the snapshot the execution
// restarts from.
func (ex *execution) restore(ctx context.Context, t *tasklet, c snapshot.Completed) error {
	s, ok := t.p.(Snapshotter)
	if !ok {
		return nil
	}
	par, li, me := t.ctx.LocalParallelism, t.ctx.LocalIndex, ex.me
	owns := func(p int) bool { return p < len(ex.plan.Owners) && ex.plan.Owners[p] == me && p%par == li }
	err := ex.snap.store.Read(ctx, c, t.ctx.Vertex, owns, func(k, v []byte) error {
		return s.RestoreSnapshot(k, v)
	})
	if err != nil {
		return fmt.Errorf("restore %s from snapshot %d: %w", t.name, c.ID, err)
	}
	if f, ok := t.p.(RestoreFinisher); ok {
		return f.FinishRestore()
	}
	return nil
}

// saveFinished saves the state of a processor that finished for a round
// that began after it had forwarded its last barrier: its items are all
// out, but its state still belongs in the snapshot (a finished source's
// positions are at its end: restored, it reads nothing again). The tasklet
// calls it as it finishes and beginRound for every later round; each
// round is saved once.
func (ex *execution) saveFinished(t *tasklet, r round) {
	if r.id <= t.barrier {
		return // the tasklet forwarded it before finishing
	}
	for {
		last := t.finalSaved.Load()
		if r.id <= last {
			return
		}
		if t.finalSaved.CompareAndSwap(last, r.id) {
			break
		}
	}
	ex.savesMu.Lock()
	defer ex.savesMu.Unlock()
	if ex.savesClosed {
		return // the processors are closing: the execution is over
	}
	ex.saves.Add(1)
	if !ex.m.Go(func(context.Context) {
		defer ex.saves.Done()
		t.finishedMu.Lock()
		defer t.finishedMu.Unlock()
		if t.saving != nil && t.saving.id != r.id {
			t.saving = nil // begun for a round that never completed
		}
		done, err := t.saveState(ex, r)
		if err == nil && !done {
			err = errors.New("it has output left")
		}
		if err != nil && ex.ctx.Err() == nil {
			ex.log.Warn("finished processor not saved; the snapshot will not complete", "processor", t.name, "snapshot", r.id, "err", err)
		}
	}) {
		ex.saves.Done()
	}
}

// waitFinishedSaves waits for the saves of finished processors and refuses
// new ones: the processors are about to be closed.
func (ex *execution) waitFinishedSaves() {
	ex.savesMu.Lock()
	ex.savesClosed = true
	ex.savesMu.Unlock()
	ex.saves.Wait()
}

type ackMsg struct {
	JobID     string               `msgpack:"j"`
	Execution uint64               `msgpack:"e"`
	ID        uint64               `msgpack:"i"`
	Processor snapshot.ProcessorID `msgpack:"p"`
	Chunks    []snapshot.ChunkRef  `msgpack:"c"`
	Entries   int64                `msgpack:"n"`
}

// ack tells the coordinator a processor saved its state for a round.
func (ex *execution) ack(r round, p snapshot.ProcessorID, chunks []snapshot.ChunkRef, entries int64) {
	msg := ackMsg{JobID: ex.plan.JobID, Execution: ex.plan.Execution, ID: r.id, Processor: p, Chunks: chunks, Entries: entries}
	b, err := wire.Marshal(&msg)
	if err != nil {
		ex.fail(err)
		return
	}
	ex.m.Go(func(ctx context.Context) {
		if _, err := ex.svc.callCoordinator(ctx, routeSnapAck, b); err != nil {
			ex.log.Warn("snapshot acknowledgement not delivered; the snapshot will not complete", "snapshot", r.id, "err", err)
		}
	})
}
