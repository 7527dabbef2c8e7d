package snapshot

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/internal/keys"
)

// Read restores one processor instance of vertex from completed snapshot
// c: it calls fn for every keyed entry whose partition owns accepts (owns
// nil: every partition), and for every broadcast entry of the vertex,
// whichever instance wrote them.
// Give each instance of the restarted job an owns that accepts the
// partitions it is now responsible for (on any number of members): every
// keyed entry then reaches exactly one instance.
//
// Chunks are listed by c's manifest, not found by a scan, and fetched a few
// MiB at a time in a fixed order (partition, writer, sequence): broadcast
// entries first. Within a partition, entries do not come back in the order
// they were put (an entry larger than a chunk is written apart), so state
// must not depend on it. Only the chunks of owned partitions travel, unless the
// snapshot was grouped by another partition count (a named snapshot from
// another cluster), in which case every keyed chunk is read and entries
// are routed one by one.
//
// key and value are valid until fn returns; copy what you keep. An error
// from fn stops the read and is returned as is. A chunk listed but missing
// or not matching its reference is ErrCorrupt: restoring part of a state
// would be silent data loss.
func (s *Store) Read(ctx context.Context, c Completed, vertex string, owns func(partition int) bool, fn func(key, value []byte) error) error {
	if c.ID == 0 {
		return fmt.Errorf("snapshot: read %s: no completed snapshot", vertex)
	}
	mp, err := s.mapOf(c)
	if err != nil {
		return err
	}
	if owns == nil {
		owns = func(int) bool { return true }
	}
	perEntry := c.Manifest.Partitions != 0 && c.Manifest.Partitions != s.parts
	refs := c.Manifest.vertexChunks(vertex, func(r ChunkRef) bool {
		return r.Partition == Broadcast || perEntry || owns(r.Partition)
	})
	yield := fn
	if perEntry {
		yield = func(k, v []byte) error {
			if !owns(keys.Partition(k, s.parts)) {
				return nil
			}
			return fn(k, v)
		}
	}
	return fetch(ctx, mp, refs, func(ref ChunkRef, value []byte, ok bool) error {
		if !ok {
			return fmt.Errorf("%w: snapshot %d: %s missing from %s", ErrCorrupt, c.ID, ref, mp.Name())
		}
		h, payload, err := decodeChunk(value)
		if err != nil {
			return fmt.Errorf("snapshot %d: %s: %w", c.ID, ref, err)
		}
		if !h.matches(ref) {
			return fmt.Errorf("%w: snapshot %d: %s holds chunk %d/%s/p%d/w%d/%x/%d", ErrCorrupt, c.ID, ref, h.ID, h.Vertex, h.Partition, h.Writer, h.Nonce, h.Seq)
		}
		if ref.Partition == Broadcast {
			return eachEntry(payload, h.Entries, ref.String(), fn)
		}
		return eachEntry(payload, h.Entries, ref.String(), yield)
	}, nil)
}
