package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/keys"
)

// Writer saves one processor instance's state for one snapshot. Entries are
// packed into chunks of up to ChunkSize bytes, one partition per chunk
// (broadcast entries in chunks of their own), so that a restore on any
// number of members fetches only the chunks of the partitions each
// instance now owns.
//
// Put and PutBroadcast only buffer: they never block, so a processor can
// save its state from the engine's loop. Flush writes the chunks that are
// full, and Close writes the rest and returns what the processor
// acknowledges to the coordinator. A Writer is used by one goroutine.
//
// Memory: full chunks are held until Flush or Close, and partly filled ones
// (one per partition at most) until they fill; Flush also seals partly
// filled chunks early when they exceed a few MiB in all. A processor with a
// large state calls Flush whenever Buffered passes what it may hold.
type Writer struct {
	s     *Store
	mp    *grid.Map[chunkKey, []byte]
	id    uint64
	slot  int
	p     ProcessorID
	nonce uint64
	seq   uint32

	open      []*openChunk // by partition+1 (index 0: broadcast)
	openBytes int
	sealed    []sealedChunk
	sealedLen int

	refs    []ChunkRef // chunks written
	entries int64      // entries put
	closed  bool
	err     error // sticky: the first failure
}

type openChunk struct {
	entries int64
	payload []byte
}

type sealedChunk struct {
	ref   ChunkRef
	value []byte
}

// Writer returns a writer for processor p's state in snapshot id, stored in
// slot (both from Lifecycle.Begin).
func (s *Store) Writer(id uint64, slot int, p ProcessorID) *Writer {
	w := &Writer{s: s, id: id, slot: slot, p: p, nonce: rand.Uint64(), open: make([]*openChunk, s.parts+1)}
	switch {
	case s.named != "":
		w.err = fmt.Errorf("%w: write to %s", ErrReadOnly, s.named)
	case id == 0:
		w.err = fmt.Errorf("snapshot: writer for snapshot 0: ids start at 1")
	default:
		w.mp, w.err = s.slotMap(slot)
	}
	return w
}

// Put saves a keyed entry. key is the canonical msgpack encoding of the
// state's key (package internal/keys, as partitioned edges and maps encode
// keys), so that on restore it reaches the instance owning its partition.
// The Writer copies key and value.
func (w *Writer) Put(key, value []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	return w.add(keys.Partition(key, w.s.parts), key, value)
}

// PutBroadcast saves an entry that every instance of the vertex reads on
// restore, such as a source's read offsets, which the instances then
// divide among themselves as they see fit.
func (w *Writer) PutBroadcast(key, value []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	return w.add(Broadcast, key, value)
}

func (w *Writer) usable() error {
	if w.closed {
		return fmt.Errorf("%w: %s, snapshot %d", ErrWriterClosed, w.p, w.id)
	}
	return w.err
}

func (w *Writer) add(part int, key, value []byte) error {
	size := entrySize(key, value)
	if size > w.s.maxEntry {
		return fmt.Errorf("snapshot %d, %s: %w: entry of %d bytes, limit %d", w.id, w.p, grid.ErrTooLarge, size, w.s.maxEntry)
	}
	w.entries++
	if size > ChunkSize {
		// An entry larger than a chunk gets a chunk of its own, leaving the
		// partition's open chunk as it was.
		w.seal(part, &openChunk{entries: 1, payload: appendEntry(make([]byte, 0, size), key, value)})
		return nil
	}
	c := w.open[part+1]
	if c != nil && len(c.payload)+size > ChunkSize {
		w.sealOpen(part)
		c = nil
	}
	if c == nil {
		c = &openChunk{payload: make([]byte, 0, min(ChunkSize, max(4<<10, 2*size)))}
		w.open[part+1] = c
	}
	before := len(c.payload)
	c.payload = appendEntry(c.payload, key, value)
	c.entries++
	w.openBytes += len(c.payload) - before
	return nil
}

// sealOpen seals the open chunk of part.
func (w *Writer) sealOpen(part int) {
	c := w.open[part+1]
	w.open[part+1] = nil
	w.openBytes -= len(c.payload)
	w.seal(part, c)
}

// seal turns a chunk's payload into its stored value, ready to write.
func (w *Writer) seal(part int, c *openChunk) {
	ref := ChunkRef{Snapshot: w.id, Slot: w.slot, Vertex: w.p.Vertex, Partition: part, Writer: w.p.Index,
		Nonce: w.nonce, Seq: w.seq, Entries: c.entries}
	w.seq++
	v := encodeChunk(ref, c.payload)
	ref.Bytes = int64(len(v))
	w.sealed = append(w.sealed, sealedChunk{ref: ref, value: v})
	w.sealedLen += len(v)
}

// Buffered is the number of bytes put and not yet written.
func (w *Writer) Buffered() int { return w.openBytes + w.sealedLen }

// Flush writes the chunks that are full, after sealing the largest partly
// filled ones while those exceed a few MiB. An error is final: the
// snapshot cannot complete with this writer.
func (w *Writer) Flush(ctx context.Context) error {
	if err := w.usable(); err != nil {
		return err
	}
	for w.openBytes > maxOpenBytes {
		largest := 0
		for i, c := range w.open {
			if c != nil && (w.open[largest] == nil || len(c.payload) > len(w.open[largest].payload)) {
				largest = i
			}
		}
		w.sealOpen(largest - 1)
	}
	return w.write(ctx)
}

// Close writes everything buffered and returns the chunks written and the
// number of entries put: what the processor acknowledges to the
// coordinator (Lifecycle.Ack). A processor without state acknowledges no
// chunks. Calling Close again returns the same.
func (w *Writer) Close(ctx context.Context) (chunks []ChunkRef, entries int64, err error) {
	if w.closed || w.err != nil {
		return slices.Clone(w.refs), w.entries, w.err
	}
	for part, c := range w.open {
		if c != nil {
			w.sealOpen(part - 1)
		}
	}
	err = w.write(ctx)
	w.closed = true
	slices.SortFunc(w.refs, compareRefs)
	return slices.Clone(w.refs), w.entries, err
}

// write stores the sealed chunks, a few MiB per request (a larger chunk
// alone), each request going to every owning member at once.
func (w *Writer) write(ctx context.Context) error {
	for len(w.sealed) > 0 {
		n, size := 1, len(w.sealed[0].value)
		for n < len(w.sealed) && size+len(w.sealed[n].value) <= batchBytes {
			size += len(w.sealed[n].value)
			n++
		}
		batch := make(map[chunkKey][]byte, n)
		for _, c := range w.sealed[:n] {
			batch[c.ref.key()] = c.value
		}
		if err := w.mp.PutAll(ctx, batch); err != nil {
			w.err = fmt.Errorf("snapshot %d, %s: write chunks: %w", w.id, w.p, err)
			return w.err
		}
		for _, c := range w.sealed[:n] {
			w.refs = append(w.refs, c.ref)
		}
		w.sealedLen -= size
		clear(w.sealed[:n])
		w.sealed = w.sealed[n:]
	}
	w.sealed = nil
	return nil
}
