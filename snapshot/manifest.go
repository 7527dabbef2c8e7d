package snapshot

import (
	"cmp"
	"fmt"
	"slices"
)

// ProcessorID names one processor instance of a job: its vertex and its
// global index among the vertex's instances.
type ProcessorID struct {
	Vertex string `msgpack:"v"`
	Index  int    `msgpack:"i"`
}

func (p ProcessorID) String() string { return fmt.Sprintf("%s#%d", p.Vertex, p.Index) }

// Broadcast is the Partition of chunks holding broadcast entries, which
// every instance of the vertex reads on restore.
const Broadcast = -1

// ChunkRef names one stored chunk and says what it holds. Its fields are the
// chunk's map key (Snapshot, Vertex, Partition, Writer, Nonce, Seq) plus
// what the chunk's header must repeat (Entries, Bytes), so a reader or a
// verifier can tell a chunk from a stale or foreign one at the same place.
type ChunkRef struct {
	Snapshot  uint64 `msgpack:"s"`
	Slot      int    `msgpack:"l"`
	Vertex    string `msgpack:"v"`
	Partition int    `msgpack:"p"` // Broadcast for broadcast entries
	Writer    int    `msgpack:"w"` // the writing processor's index
	// Nonce is random per Writer, so two writers for the same processor and
	// snapshot id (a zombie from an aborted attempt, an id reused after a
	// coordinator change) never write the same keys.
	Nonce   uint64 `msgpack:"n"`
	Seq     uint32 `msgpack:"q"`
	Entries int64  `msgpack:"e"`
	Bytes   int64  `msgpack:"b"` // size of the chunk's value
}

func (c ChunkRef) String() string {
	return fmt.Sprintf("chunk %d/%s/p%d/w%d/%x/%d", c.Snapshot, c.Vertex, c.Partition, c.Writer, c.Nonce, c.Seq)
}

func (c ChunkRef) key() chunkKey {
	return chunkKey{ID: c.Snapshot, Vertex: c.Vertex, Partition: c.Partition, Writer: c.Writer, Nonce: c.Nonce, Seq: c.Seq}
}

// compareRefs orders chunks by vertex, partition, writer, then sequence:
// the order in which a restore reads them.
func compareRefs(a, b ChunkRef) int {
	return cmp.Or(
		cmp.Compare(a.Vertex, b.Vertex),
		cmp.Compare(a.Partition, b.Partition),
		cmp.Compare(a.Writer, b.Writer),
		cmp.Compare(a.Nonce, b.Nonce),
		cmp.Compare(a.Seq, b.Seq),
	)
}

// Manifest lists every chunk of a completed snapshot: a restore reads what
// it lists instead of scanning the map.
type Manifest struct {
	// Map is the grid map holding the chunks when it is not the job's own
	// slot map: set for a snapshot exported under a name.
	Map string `msgpack:"m,omitempty"`
	// Partitions is the partition count keyed chunks were grouped by, when
	// it may differ from the reader's (set by Export); 0 means the
	// cluster's own count. A reader with another count routes entry by
	// entry instead of chunk by chunk.
	Partitions int        `msgpack:"p,omitempty"`
	Chunks     []ChunkRef `msgpack:"c"`
	Entries    int64      `msgpack:"e"` // entries in all chunks
	Bytes      int64      `msgpack:"b"` // bytes of all chunks
}

// Completed is a snapshot that every participant acknowledged and whose
// chunks were verified: what the job record keeps to restart from.
type Completed struct {
	ID       uint64   `msgpack:"i"` // 0: no snapshot yet
	Slot     int      `msgpack:"s"`
	Manifest Manifest `msgpack:"m"`
}

// vertexChunks returns the chunks of vertex a reader wants, in read order.
func (m *Manifest) vertexChunks(vertex string, keep func(ChunkRef) bool) []ChunkRef {
	var out []ChunkRef
	for _, c := range m.Chunks {
		if c.Vertex == vertex && keep(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, compareRefs)
	return out
}
