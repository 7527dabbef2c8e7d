package sinks

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/pipeline"
)

// maxChunkBytes bounds the encoded items of one output log entry: a batch
// of larger items is split into several entries.
const maxChunkBytes = 64 << 10

// logStore stores the entries of one output log (see outlog.go).
type logStore interface {
	// append stores e; with wait, it first waits until the log's reader
	// has room for it (backpressure). Entries written while a job is set
	// up do not wait: setting up must not block on a reader.
	append(ctx context.Context, e *entry, wait bool) error
}

// logWriter is the SinkWriter of the sinks writing an output log: it
// encodes items into entries and writes the markers of two-phase commit.
type logWriter[T any] struct {
	ctx      *dag.Context
	what     string // "observable sink x", for errors
	store    logStore
	codec    codec.Codec[T]
	n        uint64
	chunk    []byte
	restored *savedWriter
}

// savedWriter is what a writer keeps in a snapshot: which execution of
// which job took it. All instances save the same, so each restored instance
// knows it.
type savedWriter struct {
	Job  string `msgpack:"j"`
	Exec uint64 `msgpack:"e"`
	Snap uint64 `msgpack:"s"`
}

var _ pipeline.TransactionalWriter = (*logWriter[int])(nil)

// openLogWriter opens a writer and records its beginning.
func openLogWriter[T any](ctx *dag.Context, what string, store logStore) (*logWriter[T], error) {
	w := &logWriter[T]{ctx: ctx, what: what, store: store, codec: codec.For[T]()}
	if err := w.put(w.next(kindBegin), false); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *logWriter[T]) exactlyOnce() bool { return w.ctx.Guarantee == dag.ExactlyOnce }

func (w *logWriter[T]) next(kind entryKind) *entry {
	w.n++
	return &entry{Kind: kind, Job: w.ctx.JobID, Exec: w.ctx.Execution, Inst: w.ctx.GlobalIndex, N: w.n, Guarantee: w.ctx.Guarantee}
}

func (w *logWriter[T]) put(e *entry, wait bool) error {
	if err := w.store.append(w.ctx.Context(), e, wait); err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	return nil
}

// Write encodes items into chunks of at most maxChunkBytes and appends
// each as an entry, in order.
func (w *logWriter[T]) Write(items []T) error {
	count := 0
	w.chunk = w.chunk[:0]
	for _, it := range items {
		var err error
		if w.chunk, err = w.codec.Append(w.chunk, it); err != nil {
			return fmt.Errorf("%s: encode item: %w", w.what, err)
		}
		count++
		if len(w.chunk) >= maxChunkBytes {
			if err := w.flush(count); err != nil {
				return err
			}
			count, w.chunk = 0, w.chunk[:0]
		}
	}
	if count > 0 {
		return w.flush(count)
	}
	return nil
}

func (w *logWriter[T]) flush(count int) error {
	e := w.next(kindItems)
	e.Count, e.Items = count, w.chunk
	return w.put(e, true)
}

// Prepare records, exactly once, that the items written so far belong to
// the snapshot; the snapshot completes only once this is stored.
func (w *logWriter[T]) Prepare(s *dag.SnapshotWriter) error {
	if !w.exactlyOnce() {
		return nil
	}
	e := w.next(kindPrepare)
	e.Snap = s.ID()
	if err := w.put(e, true); err != nil {
		return err
	}
	return dag.SaveBroadcast(s, fmt.Sprintf("outlog-%d", w.ctx.GlobalIndex), savedWriter{Job: w.ctx.JobID, Exec: w.ctx.Execution, Snap: s.ID()})
}

// CommitSnapshot records that the snapshot completed. One instance says it
// for all; a commit missed (this instance's member restarting, say) is
// implied by the next one or by the restore that follows.
func (w *logWriter[T]) CommitSnapshot(id uint64) error {
	if !w.exactlyOnce() || w.ctx.GlobalIndex != 0 {
		return nil
	}
	e := w.next(kindCommit)
	e.Snap = id
	return w.put(e, true)
}

func (w *logWriter[T]) RestoreSnapshot(key, value []byte) error {
	_, s, err := dag.LoadEntry[string, savedWriter](key, value)
	if err != nil {
		return fmt.Errorf("%s: %w", w.what, err)
	}
	if w.restored == nil || s.Snap > w.restored.Snap {
		w.restored = &s
	}
	return nil
}

// FinishRestore records which snapshot the execution restarted from, so
// readers count what it covered and drop what the failed execution wrote
// after it. A snapshot another job took (an exported one this job started
// from) covers none of this job's items: the restore says so, and readers
// drop everything the job's earlier executions wrote.
func (w *logWriter[T]) FinishRestore() error {
	if !w.exactlyOnce() || w.restored == nil {
		return nil
	}
	e := w.next(kindRestore)
	if w.restored.Job == w.ctx.JobID {
		e.Snap, e.From = w.restored.Snap, w.restored.Exec
	}
	w.restored = nil
	return w.put(e, false)
}

func (w *logWriter[T]) Close() error { return nil }

// decodeItems decodes the items of an entry, appending them to out.
func decodeItems[T any](c codec.Codec[T], e *entry, out []T) ([]T, error) {
	b := e.Items
	for range e.Count {
		v, n, err := c.Next(b)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}
