package snapshot

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/grid"
)

// A named snapshot lives in its own map, NamedMap(name): its chunks, under
// the same keys as in the job's slot, and one record under the key
// recordKey holding the Completed to restore from, its manifest's Map set
// to the named map. A new job starts from it by restoring from that
// Completed; its own snapshots then go to its own slots.

const recordKey = "snapshot" // a string: never equal to a chunk key, which is an array

// namedRecord is the value under recordKey.
type namedRecord struct {
	Format    int       `msgpack:"f"`
	Job       string    `msgpack:"j"` // the job it was exported from
	Completed Completed `msgpack:"c"`
}

func (s *Store) recordMap(name string) *grid.Map[string, namedRecord] {
	return grid.GetMap[string, namedRecord](s.m, name)
}

// Export copies completed snapshot c under name, so that a new job (or the
// same one, later) can start from it, whatever happens to this job. An
// existing snapshot of that name is replaced, crash-safely: the new chunks
// are copied beside the old ones (their keys differ by writer nonce), the
// record is switched in one write, and only then are the old chunks
// deleted: at every moment OpenNamed finds a complete snapshot, the old
// one until the switch, the new one after.
func (s *Store) Export(ctx context.Context, c Completed, name string) error {
	if c.ID == 0 {
		return fmt.Errorf("snapshot: export %q: no completed snapshot", name)
	}
	if name == "" {
		return fmt.Errorf("snapshot: export snapshot %d: empty name", c.ID)
	}
	src, err := s.mapOf(c)
	if err != nil {
		return err
	}
	dstName := NamedMap(name)
	dst := s.chunkMap(dstName)
	records := s.recordMap(dstName)
	old, hadOld, err := records.Get(ctx, recordKey)
	if err != nil {
		return fmt.Errorf("snapshot: export %q: read the current record: %w", name, err)
	}

	// Copy a batch at a time: what fetch read is written before the next
	// batch is read.
	var batch map[chunkKey][]byte
	err = fetch(ctx, src, sortedRefs(c.Manifest.Chunks), func(ref ChunkRef, value []byte, ok bool) error {
		if !ok {
			return fmt.Errorf("%w: snapshot %d: %s missing from %s", ErrCorrupt, c.ID, ref, src.Name())
		}
		if h, _, err := decodeChunk(value); err != nil || !h.matches(ref) {
			return fmt.Errorf("%w: snapshot %d: %s does not match its reference", ErrCorrupt, c.ID, ref)
		}
		if batch == nil {
			batch = map[chunkKey][]byte{}
		}
		batch[ref.key()] = value
		return nil
	}, func() error {
		if len(batch) == 0 {
			return nil
		}
		err := dst.PutAll(ctx, batch)
		batch = nil
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot: export snapshot %d as %q: %w", c.ID, name, err)
	}

	rec := namedRecord{Format: chunkFormat, Job: s.job, Completed: c}
	rec.Completed.Manifest.Map = dstName
	rec.Completed.Manifest.Partitions = s.parts
	if c.Manifest.Partitions != 0 {
		rec.Completed.Manifest.Partitions = c.Manifest.Partitions
	}
	rec.Completed.Manifest.Chunks = sortedRefs(c.Manifest.Chunks)
	if err := records.Put(ctx, recordKey, rec); err != nil {
		return fmt.Errorf("snapshot: export snapshot %d as %q: write the record: %w", c.ID, name, err)
	}

	if hadOld {
		keep := map[chunkKey]bool{}
		for _, r := range rec.Completed.Manifest.Chunks {
			keep[r.key()] = true
		}
		for _, r := range old.Completed.Manifest.Chunks {
			if k := r.key(); !keep[k] {
				if err := dst.Delete(ctx, k); err != nil {
					// The export stands; the old chunk stays until the
					// name is dropped or exported again.
					s.log.Warn("snapshot: could not delete a chunk of the replaced named snapshot", "name", name, "chunk", r.String(), "err", err)
				}
			}
		}
	}
	return nil
}

// OpenNamed opens the snapshot exported as name: a read-only Store (Read,
// Stored, and Drop to delete the named snapshot) and the Completed to
// restore from. A job starting from it passes that Completed to Read (any
// Store reads it: its manifest names its map) and to NewLifecycle, so its
// own snapshots continue the numbering. ErrNoSnapshot if there is none.
func OpenNamed(ctx context.Context, m Member, name string) (*Store, Completed, error) {
	s := newStore(m)
	s.named = NamedMap(name)
	s.slots[0] = s.chunkMap(s.named)
	s.slots[1] = s.slots[0]
	rec, ok, err := s.recordMap(s.named).Get(ctx, recordKey)
	if err != nil {
		return nil, Completed{}, fmt.Errorf("snapshot: open named snapshot %q: %w", name, err)
	}
	if !ok {
		return nil, Completed{}, fmt.Errorf("%w: %q", ErrNoSnapshot, name)
	}
	if rec.Format != chunkFormat {
		return nil, Completed{}, fmt.Errorf("%w: named snapshot %q has format %d, this version reads %d", ErrCorrupt, name, rec.Format, chunkFormat)
	}
	return s, rec.Completed, nil
}
