// Package grid is weir's distributed map: the data that jobs read, write and
// enrich from, and the cache a Go service shares across its instances.
//
//	vehicles := grid.GetMap[string, Vehicle](m, "vehicles", grid.WithNearCache(grid.NearCacheConfig{}))
//	err := vehicles.Put(ctx, "truck-7", Vehicle{MaxLoadKg: 18000})
//	v, ok, err := vehicles.Get(ctx, "truck-7")
//
// The same name on any member, lite members included, is the same map.
// Keys and values travel and rest as msgpack (package internal/codec has fast
// paths for strings, byte slices and integers); owners and backups never need
// the Go types, and a value read with another type fails with ErrWrongType.
//
// # Where data lives
//
// A key's partition is partition.ForKey of its encoded bytes; the member
// package's table names the partition's owner and backups. An operation goes
// to the owner, which applies writes one at a time per partition and sends
// each change to the partition's BackupCount backups, in order, before the
// call returns. When the table changes the client retries against the new
// owner; operations on a partition being migrated wait until it has moved.
// Map.Partition and Map.Owner say where a key lives, computed as the
// routing computes it.
//
// # Guarantees
//
//   - With BackupCount >= 1, no acknowledged write is lost when one member
//     crashes: its backups are promoted. With none (member.NoBackups), a graceful
//     Shutdown still hands every partition over first; a crash loses the
//     member's partitions.
//   - On a stable cluster, Put, Get, Delete and CompareAndSwap are
//     linearizable (tested with porcupine).
//   - A non-idempotent operation (PutIfAbsent, CompareAndSwap, Replace,
//     CompareAndDelete, Execute) carries a request ID; its outcome is recorded
//     on the owner and the backups, so a retry after a failover is answered,
//     not applied twice.
//   - Every write is numbered with a version (about the owner's clock in
//     ns, always above the version it replaces), and a delete leaves a
//     versioned tombstone. Wherever copies of a partition meet, an entry or
//     tombstone from the other copy applies only if it is newer than all the
//     receiving copy knows of its key, so an acknowledged delete never
//     comes back and an acknowledged write is never undone by an older one.
//     A purged tombstone lives on in its store's floor (see below).
//   - A member paused (SIGSTOP, a long GC or VM stall) or cut off for
//     longer than failure detection is dropped and its backups promoted.
//     When it comes back, the copies it held are merged by version: what
//     the cluster wrote or deleted meanwhile stands, and only what the
//     member wrote later, if anything, is newer. Back from a pause, it
//     serves nothing as the owner it was, not even a request that waited in
//     its socket (member.Member.CheckStalled runs before an owner serves
//     and before it acknowledges), and a backup whose table is at least as
//     new as the owner's refuses the changes of a member that table does
//     not name as the partition's owner: a stale owner cannot get a write
//     acknowledged that the new owner's replicas will not keep.
//   - Network partitions: with member.Config.MinClusterSize, a side with
//     fewer data members refuses writes with ErrNoQuorum, so nothing it would
//     lose at the merge is acknowledged; it still serves reads of what it
//     holds. When it rejoins, its members serve nothing until the
//     coordinator's table reaches them (operations wait and retry), and
//     their old copies are merged by version like any other: they hold
//     nothing newer, but when every copy of a partition was on the
//     minority side (BackupCount smaller than the members a split takes
//     away), the majority served that partition from empty meanwhile, and
//     the minority's copy is the only one of what was acknowledged there
//     before; a delete the majority acknowledged of a key it did not hold
//     left a tombstone and still wins. Reads on the majority miss those
//     entries until the heal, and entry processors (counters) there start
//     from nothing: such increments cannot be both available and exact, so
//     keep BackupCount at least the number of members a split can cut off.
//     Without a
//     quorum, both sides stay available; when they heal, the side holding
//     the coordinator's table keeps ownership and the other side's entries
//     and deletes are merged into it, latest version winning.
//   - Tombstones are kept 30 s, and from 30 s before a member last left the
//     table on for 10 minutes, then purged; a purged one raises its store's
//     floor, below which a merged entry of a key the copy does not hold is
//     refused. So a delete wins however late an old copy returns. What the
//     retention bounds is a split without a quorum that lasts more than 10
//     minutes: a write made apart, to a key the other side does not hold,
//     may then be refused if that side purged a newer delete of the same
//     map and partition.
//
// # Features
//
//   - Near cache (WithNearCache): decoded copies of what this member read;
//     owners invalidate them on every change, ordered by partition sequence
//     numbers so a late response never overwrites a newer invalidation;
//     a write through the handle drops the value it replaced before it
//     returns, so the handle reads its own writes.
//   - Event journal (WithJournal): per-partition rings of changes with
//     sequence numbers, kept on backups too and moved with migrations: the
//     replayable source of streaming jobs (Map.Partitioned: ReadJournal, JournalWait).
//   - Listeners (AddListener): best-effort change events on a local goroutine.
//   - Expiry: WithTTL, PutTTL, WithMaxIdle; WithMaxEntries evicts
//     approximately least recently used entries per member.
//   - Entry processors (RegisterProcessor, Execute): code registered by name
//     in every binary, run atomically on the key's owner.
//   - Batches: GetAll and PutAll send one request per owning member.
//   - Iteration: Scan and All read each partition whole from its owner,
//     weakly consistent across partitions; LocalEntries reads this member's
//     partitions without the network. All and LocalEntries yield
//     (Entry, error) pairs: an entry of another type is an error in its
//     place, and whatever ends the iteration early is yielded last.
package grid
