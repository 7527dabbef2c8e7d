// Package partition decides where data lives in a weir cluster: which of N
// partitions a key belongs to, and which members hold each partition. It is
// pure: no I/O, no clock, no goroutines, no randomness. Given the same input,
// every function returns the same output, so a table depends only on the
// membership history, whichever member happens to be coordinator.
//
// # Keys to partitions
//
// A key is encoded with msgpack, hashed with xxhash (Hash) and mapped to a
// partition with jump consistent hashing (ForHash, or ForKey for both steps).
// The partition count is fixed for the life of a cluster, DefaultCount
// unless configured; members with another count are refused at join time.
// These functions are a wire contract: TestForKeyGolden pins their results,
// and changing them would send existing keys to the wrong members.
//
// # Tables
//
// A Table is a versioned assignment of every partition to a row of members:
// the owner first, which serves reads and writes, then BackupCount backups in
// promotion order. A row never holds a member twice; an empty row is a
// partition whose every replica died, whose data is lost. Tables are
// immutable values: they are built whole, published whole (members keep the
// current one in an atomic.Pointer and apply a new one only if its Version is
// higher) and never modified. They travel between members in a compact
// msgpack form (MarshalBinary, or as a field of a msgpack message), and
// decoding refuses hostile input without panicking or allocating for lengths
// the input does not back.
//
// # Planning
//
// The coordinator reacts to membership changes with four functions:
//
//   - Initial makes the first table of a cluster.
//   - Promote answers a member's death at once and without copying: every
//     row drops the dead, so each orphaned partition is served by its first
//     surviving backup.
//   - Rebalance computes the table the cluster should converge to for the
//     live members and backup count.
//   - Plan lists, per partition whose row changes, the copies to make (Added,
//     from Source) and the replicas that may be dropped afterwards (Removed).
//
// A migration copies data as Plan says and commits finished partitions with
// Table.WithRows, in as many batches as it likes, so a table never names a
// replica that does not hold its data yet.
//
// # What Rebalance guarantees
//
// With m live members and backup count b, the result of Rebalance has:
//
//   - an owner for every partition (if m > 0) and r = min(b, m-1) backups,
//     all distinct live members; dead members never appear;
//   - owned counts within one of each other, and backup counts within one of
//     each other;
//   - as few ownership changes as any table with that balance allows: a
//     member keeps all it owns unless it owns more than its share, and a
//     partition that must move goes to a member already holding a replica
//     when one has room;
//   - for those owners, as few backup copies as any balanced table allows
//     (TestBackupCopiesAreMinimal checks this against a textbook min-cost
//     flow);
//   - failover spread: the first backups of each owner's partitions are
//     chosen so that, if the owner dies, Promote leaves a nearly balanced
//     table;
//   - determinism and idempotence: Rebalance of its own result with the same
//     arguments changes nothing.
//
// In numbers, for n partitions: when a member joins m balanced members, only
// the joiner receives copies (at most ceil(n/(m+1)) owned and
// ceil(n*r/(m+1)) backups), unless the backup count was capped by the member
// count and every row gains a backup; the owner changes are the joiner's
// share. When a member leaves, its partitions are promoted, and at most its
// share more change owner to restore balance; usually none or a few do.
//
// # How
//
// Owners are assigned first: quotas go to the members with the most
// partitions already, surpluses move to under-quota members holding a
// replica, and what remains is dealt out. Backups are then kept where they
// are, filled and shed greedily, and what the greedy steps leave unbalanced
// is repaired along augmenting paths (shortest in copies, by Dijkstra over
// members); finally cycles of hand-offs that save copies are cancelled, the
// optimality condition of min-cost flow. See backups.go and paths.go.
package partition
