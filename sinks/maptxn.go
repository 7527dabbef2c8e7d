package sinks

import (
	"fmt"
	"maps"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
)

// commitBatch bounds the entries of one PutAll or DeleteAll a commit
// sends: a snapshot interval's writes to a million keys go out in pieces,
// each still one request per owning member.
const commitBatch = 4096

// heldWrite is a key's latest write that no snapshot has committed yet:
// its new value, or its removal.
type heldWrite[V any] struct {
	Value   V    `msgpack:"v"`
	Deleted bool `msgpack:"d,omitempty"`
}

// heldTxn is what an instance wrote between two barriers, prepared on the
// second one (snapshot id).
type heldTxn[K comparable, V any] struct {
	id     uint64
	writes map[K]heldWrite[V]
}

// mapCommit is the two-phase commit of a map sink instance in an
// exactly-once job. Writes are held, coalesced per key (the last write of
// a key wins; a merging sink folds each item into the held value), until
// the snapshot whose barrier follows them completes in the whole cluster;
// then they are applied with PutAll and DeleteAll. What it holds is at
// most one entry per key written since the last committed snapshot, for
// each snapshot not yet committed (one or two).
//
// On a barrier it saves every held write as a keyed entry of the snapshot:
// the key's value after that snapshot. A restore from the snapshot hands
// each entry to the instance now writing its key, which applies them
// before it reads anything: the map then holds exactly the snapshot's
// output, whether or not the failed execution had committed it, and none
// of what that execution wrote after it. Applying the same absolute values
// twice changes nothing, so a commit retried after a restore is harmless,
// merges included.
type mapCommit[K comparable, V any] struct {
	ctx      *dag.Context
	m        *grid.Map[K, V]
	open     map[K]heldWrite[V] // since the last barrier
	prepared []heldTxn[K, V]    // by ascending snapshot id, not yet committed
	restored map[K]heldWrite[V] // the restored snapshot's, until FinishRestore
}

func newMapCommit[K comparable, V any](ctx *dag.Context, m *grid.Map[K, V]) *mapCommit[K, V] {
	return &mapCommit[K, V]{ctx: ctx, m: m, open: map[K]heldWrite[V]{}}
}

// put holds k's new value.
func (c *mapCommit[K, V]) put(k K, v V) { c.open[k] = heldWrite[V]{Value: v} }

// remove holds k's removal.
func (c *mapCommit[K, V]) remove(k K) { c.open[k] = heldWrite[V]{Deleted: true} }

// held returns k's latest held write, if any: what the map will hold for
// k once the writes so far are committed.
func (c *mapCommit[K, V]) held(k K) (heldWrite[V], bool) {
	if w, ok := c.open[k]; ok {
		return w, true
	}
	for i := len(c.prepared) - 1; i >= 0; i-- {
		if w, ok := c.prepared[i].writes[k]; ok {
			return w, true
		}
	}
	return heldWrite[V]{}, false
}

// Prepare closes the writes since the last barrier into snapshot s's
// transaction and saves every write not committed yet.
func (c *mapCommit[K, V]) Prepare(s *dag.SnapshotWriter) error {
	if len(c.open) > 0 {
		c.prepared = append(c.prepared, heldTxn[K, V]{id: s.ID(), writes: c.open})
		c.open = map[K]heldWrite[V]{}
	}
	for k, w := range c.latest(len(c.prepared)) {
		if err := dag.SaveEntry(s, k, w); err != nil {
			return fmt.Errorf("map sink %s: %w", c.m.Name(), err)
		}
	}
	return nil
}

// latest coalesces the first n prepared transactions: each key's last
// write.
func (c *mapCommit[K, V]) latest(n int) map[K]heldWrite[V] {
	switch n {
	case 0:
		return nil
	case 1:
		return c.prepared[0].writes
	}
	all := maps.Clone(c.prepared[0].writes)
	for _, t := range c.prepared[1:n] {
		maps.Copy(all, t.writes)
	}
	return all
}

// CommitSnapshot applies the transactions prepared up to snapshot id.
func (c *mapCommit[K, V]) CommitSnapshot(id uint64) error {
	n := 0
	for n < len(c.prepared) && c.prepared[n].id <= id {
		n++
	}
	if n == 0 {
		return nil
	}
	if err := c.apply(c.latest(n)); err != nil {
		return err
	}
	clear(c.prepared[:n])
	c.prepared = c.prepared[n:]
	return nil
}

func (c *mapCommit[K, V]) RestoreSnapshot(key, value []byte) error {
	k, w, err := dag.LoadEntry[K, heldWrite[V]](key, value)
	if err != nil {
		return fmt.Errorf("map sink %s: %w", c.m.Name(), err)
	}
	if c.restored == nil {
		c.restored = map[K]heldWrite[V]{}
	}
	c.restored[k] = w
	return nil
}

// FinishRestore applies what the restored snapshot held: its output is
// committed, whether or not the execution that took it got to.
func (c *mapCommit[K, V]) FinishRestore() error {
	err := c.apply(c.restored)
	c.restored = nil
	return err
}

// Close commits, when the execution ended normally (the job completes),
// what was prepared and what was written since, as Files and Collect do;
// otherwise it leaves it to the next restore, which applies what the
// snapshot it restores covered and nothing of the rest.
func (c *mapCommit[K, V]) Close() error {
	if c.ctx.Context().Err() != nil {
		return nil
	}
	if len(c.open) > 0 {
		c.prepared = append(c.prepared, heldTxn[K, V]{writes: c.open})
		c.open = map[K]heldWrite[V]{}
	}
	err := c.apply(c.latest(len(c.prepared)))
	c.prepared = nil
	return err
}

// apply writes held writes into the map: puts with PutAll, removals with
// DeleteAll, commitBatch keys a call.
func (c *mapCommit[K, V]) apply(writes map[K]heldWrite[V]) error {
	if len(writes) == 0 {
		return nil
	}
	ctx := c.ctx.Context()
	puts := make(map[K]V, min(len(writes), commitBatch))
	var dels []K
	flush := func(force bool) error {
		if len(puts) > 0 && (force || len(puts) >= commitBatch) {
			if err := c.m.PutAll(ctx, puts); err != nil {
				return fmt.Errorf("map sink %s: commit: %w", c.m.Name(), err)
			}
			clear(puts)
		}
		if len(dels) > 0 && (force || len(dels) >= commitBatch) {
			if err := c.m.DeleteAll(ctx, dels); err != nil {
				return fmt.Errorf("map sink %s: commit: %w", c.m.Name(), err)
			}
			dels = dels[:0]
		}
		return nil
	}
	for k, w := range writes {
		if w.Deleted {
			dels = append(dels, k)
		} else {
			puts[k] = w.Value
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

// txnWriter is a map sink's writer in an exactly-once job: write holds
// each batch's writes in the mapCommit, which commits them.
type txnWriter[T any, K comparable, V any] struct {
	*mapCommit[K, V]
	write func(items []T) error
}

func (w *txnWriter[T, K, V]) Write(items []T) error { return w.write(items) }
