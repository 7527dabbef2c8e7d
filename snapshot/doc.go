// Package snapshot is the core of weir's distributed snapshots
// (Chandy-Lamport, as in Hazelcast Jet): the barrier protocol that decides
// when a processor saves its state, the coordinator's bookkeeping that decides
// when a snapshot is complete, and the storage of snapshot state in
// replicated grid maps. Package dag drives it; nothing here starts a
// goroutine, reads a clock or waits.
//
// # Parts
//
//   - Aligner (pure): barrier alignment for one processor with several
//     inputs, exactly-once (an input that delivered barrier N is not read
//     until all did) or at-least-once (no blocking). It says when state is
//     to be saved and the barrier forwarded.
//   - Lifecycle (pure): the coordinator's view of a job's snapshots: Begin,
//     an Ack per processor, Verify, Commit or Abort; the last completed
//     snapshot, restored from the job record after a coordinator change.
//   - Store, Writer, Read: snapshot state in the grid. A Writer packs one
//     processor's entries into chunks grouped by partition; Read gives a
//     restarted instance the entries of the partitions it owns now, on any
//     number of members, using the manifest of the completed snapshot.
//     Export and OpenNamed keep a snapshot under a name for a new job.
//
// # One snapshot
//
//	coordinator                                   every processor instance
//	id, slot := lc.Begin(participants)
//	store.ClearSlot(ctx, slot, last.Manifest)
//	inject barrier id at every source     ──▶     aligner.Barrier(input, id) until Complete
//	                                              w := store.Writer(id, slot, me)
//	                                              w.Put / w.PutBroadcast ... (w.Flush)
//	                                              chunks, n := w.Close(ctx); forward barrier
//	lc.Ack(id, from, chunks, n)           ◀──     ack
//	lc.Verify(id, store.Stored) ; c := lc.Commit(id) ; record c in the job record
//
// On failure (a member lost, a timeout) the coordinator calls Abort; the
// last completed snapshot stands. On restart, every instance calls
// store.Read(ctx, c, vertex, owns, fn) with the partitions it now owns.
//
// # Guarantees and choices
//
//   - A snapshot is complete only when every participant acknowledged it,
//     each acknowledgement's entry count equals the sum over its chunks,
//     and every chunk is read back from the grid with a header naming the
//     same snapshot, writer, nonce, sequence and entry count.
//   - Two slots, each its own grid map: a snapshot never writes into the
//     slot of the last completed one (Begin picks the other slot, also
//     after an abort), so a failure mid-snapshot cannot damage it. A slot
//     is cleared whole before reuse, removing orphans of aborted attempts.
//   - Chunk keys carry the snapshot id and a random nonce per Writer, so
//     no writer ever overwrites another's chunk: a zombie writer of an
//     aborted attempt adds orphans at worst.
//   - State is in ordinary grid maps with the cluster's BackupCount
//     synchronous backups: a snapshot survives that many member crashes.
//   - A barrier that overtakes a pending one abandons it (see Aligner): the
//     coordinator only starts N+1 after giving up N.
//
// # Storage format
//
// See format.go. A chunk is one map entry: key [id, vertex, partition
// (-1: broadcast), writer, nonce, seq]; value [header, payload], the header
// repeating the key with the entry count, the payload a sequence of msgpack
// bin pairs (key, value). Chunks hold up to ChunkSize bytes of one
// partition of one writer; a larger entry gets a chunk of its own. A named
// snapshot's map also holds a record with its Completed.
package snapshot
