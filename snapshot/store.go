package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// Sizes that shape chunks and requests.
const (
	// ChunkSize is the size chunks are packed up to. Large enough that
	// per-chunk costs (a map entry, a key, a manifest line) vanish next to
	// the data; small enough that one chunk moves in one frame without
	// stalling other traffic, and that a restore skips whole chunks of
	// partitions it does not own.
	ChunkSize = 256 << 10
	// maxOpenBytes bounds the partly filled chunks a Writer holds; past it,
	// Flush seals the largest ones early.
	maxOpenBytes = 8 << 20
	// batchBytes bounds the chunk bytes of one PutAll or GetAll, so a
	// request to one member stays far below the transport's frame limit.
	batchBytes = 4 << 20
)

// Store keeps one job's snapshots in the grid, in two maps: one per slot,
// named SlotMap(jobID, slot). The maps are ordinary replicated grid maps,
// so a snapshot has the cluster's BackupCount synchronous backups (one by
// default) and survives that many member crashes.
//
// Why two maps rather than one with the slot in the key: reusing a slot
// means deleting everything in it, including orphans of aborted attempts
// that no manifest lists, and grid can clear a whole map on the owners in
// one request per member, whereas finding a slot's keys in a shared map
// would mean scanning (and shipping) both snapshots.
//
// A Store does its I/O on the caller's goroutine, through grid only. It is
// safe for concurrent use; each Writer belongs to one goroutine.
type Store struct {
	m        Member
	log      *slog.Logger
	job      string // "" for a store opened with OpenNamed
	named    string // map of the named snapshot, for OpenNamed stores
	slots    [2]*grid.Map[chunkKey, []byte]
	parts    int
	maxEntry int // largest entry a chunk can hold
}

// Member is what a store needs of the member it runs on: its maps, frame
// limit and partition count. A *member.Member started with the grid service
// and a service's *member.Host are ones.
type Member interface {
	member.Services
	Config() member.Config
	PartitionCount() int
}

// SlotMap is the name of the grid map holding slot of job jobID.
func SlotMap(jobID string, slot int) string { return fmt.Sprintf("__weir.snap.%s.%d", jobID, slot) }

// NamedMap is the name of the grid map holding the snapshot exported as
// name.
func NamedMap(name string) string { return "__weir.snap.named." + name }

// OpenStore returns the snapshot store of job jobID on member m. Opening is
// cheap and does no I/O; every member of the job may open it.
func OpenStore(m Member, jobID string) *Store {
	s := newStore(m)
	s.job = jobID
	for i := range s.slots {
		s.slots[i] = s.chunkMap(SlotMap(jobID, i))
	}
	return s
}

// newStore sizes the largest entry by the transport's frame limit, less
// room for the request around it: a chunk travels in one frame, to its
// owner and to each backup.
func newStore(m Member) *Store {
	maxValue := max(2*ChunkSize, m.Config().MaxFrameSize-(1<<20))
	log := m.Config().Logger
	if h, ok := m.(interface{ Logger() *slog.Logger }); ok {
		log = h.Logger() // a Host's logger names the member
	}
	return &Store{m: m, log: log, parts: m.PartitionCount(), maxEntry: maxValue - 1024}
}

// chunkMap returns a handle on a map of chunks. Values may be as large as
// the transport allows, for states with single entries above grid's
// default value limit (16 MiB).
func (s *Store) chunkMap(name string) *grid.Map[chunkKey, []byte] {
	return grid.GetMap[chunkKey, []byte](s.m, name, grid.WithSizeLimits(64<<10, s.maxEntry+1024))
}

// mapOf returns the map holding c's chunks.
func (s *Store) mapOf(c Completed) (*grid.Map[chunkKey, []byte], error) {
	if c.Manifest.Map != "" {
		return s.chunkMap(c.Manifest.Map), nil
	}
	return s.slotMap(c.Slot)
}

func (s *Store) slotMap(slot int) (*grid.Map[chunkKey, []byte], error) {
	if s.named != "" {
		return s.slots[0], nil
	}
	if slot != 0 && slot != 1 {
		return nil, fmt.Errorf("snapshot: slot %d: there are slots 0 and 1", slot)
	}
	return s.slots[slot], nil
}

// Stored counts the chunks of refs that are stored as named: present, with
// a header repeating the reference (snapshot, writer, nonce, sequence,
// entry count). It is Lifecycle.Verify's stored function:
//
//	err := lc.Verify(id, func(refs []ChunkRef) (int, error) { return st.Stored(ctx, refs) })
//
// It reads the chunks back (grid.GetAll, in batches of a few MiB), so
// verification costs one read of the snapshot; in return it checks what
// was stored, not merely that a key exists.
func (s *Store) Stored(ctx context.Context, refs []ChunkRef) (found int, err error) {
	var bySlot [2][]ChunkRef
	for _, r := range refs {
		if r.Slot != 0 && r.Slot != 1 {
			continue // stored nowhere
		}
		bySlot[r.Slot] = append(bySlot[r.Slot], r)
	}
	for slot, refs := range bySlot {
		mp, err := s.slotMap(slot)
		if err != nil {
			return found, err
		}
		err = fetch(ctx, mp, refs, func(ref ChunkRef, value []byte, ok bool) error {
			if !ok {
				return nil
			}
			if h, _, err := decodeChunk(value); err == nil && h.matches(ref) && int64(len(value)) == ref.Bytes {
				found++
			}
			return nil
		}, nil)
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

// fetch reads refs from mp in batches of at most batchBytes (or one chunk),
// in order, calling fn with each chunk's value, or ok false if it is
// absent, then after (if not nil) at the end of each batch. Memory stays
// bounded by a batch.
func fetch(ctx context.Context, mp *grid.Map[chunkKey, []byte], refs []ChunkRef, fn func(ref ChunkRef, value []byte, ok bool) error, after func() error) error {
	for len(refs) > 0 {
		n, size := 1, refs[0].Bytes
		for n < len(refs) && size+refs[n].Bytes <= batchBytes {
			size += refs[n].Bytes
			n++
		}
		batch := refs[:n]
		refs = refs[n:]
		ks := make([]chunkKey, len(batch))
		for i, r := range batch {
			ks[i] = r.key()
		}
		got, err := mp.GetAll(ctx, ks)
		if err != nil {
			return fmt.Errorf("snapshot: read chunks: %w", err)
		}
		for i, r := range batch {
			v, ok := got[ks[i]]
			if err := fn(r, v, ok); err != nil {
				return err
			}
		}
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedRefs returns a sorted copy of refs.
func sortedRefs(refs []ChunkRef) []ChunkRef {
	out := slices.Clone(refs)
	slices.SortFunc(out, compareRefs)
	return out
}

// ClearSlot deletes every chunk in slot (the chunks of an older snapshot,
// and orphans of aborted attempts), so that the next snapshot starts from
// an empty slot. keep is the manifest of the last completed snapshot: if
// any of its chunks are in that slot, nothing is deleted and the error is
// ErrSlotInUse. Call it after Lifecycle.Begin, before the barriers go out
// (Begin never picks the last completed snapshot's slot), or right after a
// Commit for the slot Commit freed.
func (s *Store) ClearSlot(ctx context.Context, slot int, keep Manifest) error {
	if s.named != "" {
		return fmt.Errorf("%w: clear slot %d of %s", ErrReadOnly, slot, s.named)
	}
	mp, err := s.slotMap(slot)
	if err != nil {
		return err
	}
	if keep.Map == mp.Name() || keep.Map == "" && slices.ContainsFunc(keep.Chunks, func(c ChunkRef) bool { return c.Slot == slot }) {
		return fmt.Errorf("%w: slot %d of job %s holds chunks of the snapshot to keep", ErrSlotInUse, slot, s.job)
	}
	if err := mp.Clear(ctx); err != nil {
		return fmt.Errorf("snapshot: clear slot %d of job %s: %w", slot, s.job, err)
	}
	return nil
}

// Drop deletes every chunk of the store: both slots of a job that is over,
// or the named snapshot of a store opened with OpenNamed.
func (s *Store) Drop(ctx context.Context) error {
	if s.named != "" {
		if err := s.slots[0].Clear(ctx); err != nil {
			return fmt.Errorf("snapshot: drop named snapshot %s: %w", s.named, err)
		}
		return nil
	}
	for i, mp := range s.slots {
		if err := mp.Clear(ctx); err != nil {
			return fmt.Errorf("snapshot: drop slot %d of job %s: %w", i, s.job, err)
		}
	}
	return nil
}
