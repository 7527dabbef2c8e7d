// Package snapshot is the core of weir's distributed snapshots
// (Chandy-Lamport, as in Hazelcast Jet). It holds three things:
//
//   - the barrier protocol, which decides when a processor saves its state;
//   - the coordinator's bookkeeping, which decides when a snapshot is
//     complete;
//   - the storage of snapshot state in replicated grid maps.
//
// Package dag drives it. Nothing here starts a goroutine or reads a clock.
// The two state machines do no I/O at all. The Store does its grid I/O on
// the caller's goroutine.
//
// # Parts
//
//   - Aligner (pure): barrier alignment for one consumer with several
//     inputs. Under ExactlyOnce, an input that delivered barrier N is not
//     read until all live inputs did. Under AtLeastOnce nothing blocks. The
//     Aligner says when to save state and forward the barrier. An input
//     that finishes (Done) counts as having delivered every later barrier.
//   - Lifecycle (pure): the coordinator's view of a job's snapshots. Begin
//     starts one, an Ack comes from each participant, then Verify, then
//     Commit, or Abort at any point. Lifecycle also keeps the last
//     completed snapshot. A new coordinator rebuilds it from the job
//     record with NewLifecycle.
//   - Store, Writer and Read: snapshot state in the grid. A Writer packs one
//     processor's entries into chunks, grouped by partition. Read gives a
//     restarted instance the entries of the partitions it now owns, on any
//     number of members, using the manifest of the completed snapshot.
//     Export and OpenNamed keep a snapshot under a name, for a new job.
//     Drop deletes a job's snapshots when it ends.
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
//	lc.Verify(id, store.Stored)
//	c := lc.Commit(id); record c in the job record
//	tell the members id is complete       ──▶     two-phase-commit sinks commit
//
// On failure (a member lost, a timeout, a verification that fails) the
// coordinator calls Abort, and the last completed snapshot stands. On a
// restart, every instance calls store.Read(ctx, c, vertex, owns, fn) with
// the partitions it now owns.
//
// Package dag numbers the participants as snapshot.ProcessorID{vertex,
// global index}. Its Aligner inputs are queues, one per producer instance
// on the member and one per other member. A member's sender on a
// distributed edge also aligns the barriers of its local producers before
// it sends one barrier for all of them.
//
// # Guarantees and choices
//
//   - A snapshot is complete only when every participant has acknowledged
//     it. Each acknowledgement's entry count must equal the sum over its
//     chunks. Every chunk must read back from the grid with a header naming
//     the same snapshot, writer, nonce, sequence and entry count, and with
//     the acknowledged size. Verification therefore costs one read of the
//     snapshot.
//   - There are two slots, each its own grid map. A snapshot never writes
//     into the slot of the last completed one: Begin picks the other slot,
//     also after an abort. So a failure mid-snapshot cannot damage the last
//     one. A slot is cleared whole before reuse, which also removes the
//     orphans of aborted attempts.
//   - Chunk keys carry the snapshot id and a random nonce per Writer, so no
//     writer ever overwrites another's chunk. A zombie writer of an aborted
//     attempt adds orphans at worst.
//   - State is kept in ordinary grid maps, with the cluster's BackupCount
//     synchronous backups: a snapshot survives that many member crashes.
//   - A barrier that overtakes a pending one abandons it (see Aligner). The
//     coordinator only starts N+1 after giving up N.
//   - A Writer bounds its memory. Put and PutBroadcast only buffer. Flush
//     writes the full chunks, and seals partly filled ones once they pass a
//     few MiB in all. A processor with a large state calls Flush whenever
//     Buffered grows past what it may hold; package dag flushes every 8 MiB.
//   - Read fetches the chunks a manifest lists, a few MiB at a time, and
//     only those of the partitions the reader owns (and broadcast ones). A
//     snapshot grouped by another partition count is the exception: a named
//     snapshot from another cluster is read whole and routed entry by entry.
//     Within a partition, entries do not come back in the order they were
//     put.
//   - Export copies a completed snapshot under a name, in its own map
//     (NamedMap), crash-safely. OpenNamed then finds the old copy or the new
//     one, whole, at every moment. A job started from a named snapshot
//     restores from the Completed that OpenNamed returns. It should pass
//     that Completed to NewLifecycle, so that its own snapshot ids continue
//     after the exported one.
//
// # Storage format
//
// See format.go. A chunk is one map entry:
//
//   - key: [id, vertex, partition (-1: broadcast), writer, nonce, seq];
//   - value: [header, payload]. The header repeats the key and adds the
//     entry count. The payload is a sequence of msgpack bin pairs (key,
//     value).
//
// A chunk holds up to ChunkSize bytes of one partition of one writer; a
// larger entry gets a chunk of its own. A named snapshot's map also holds
// a record with its Completed.
package snapshot
