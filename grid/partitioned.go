package grid

import "context"

// Partitioned is the partition-level side of a map, for connectors that
// read it partition by partition next to where the partitions live: the
// job engine's map and journal sources, and observable sinks. A user of a
// map needs none of it: Map's own methods address keys or the whole map.
//
// Partition numbers are those of the member's partition table; which
// member owns which partition changes as members come and go, so a reader
// holding partitions learns of moves from the member (member.Host's
// OnTableChange) or from a failed read.
type Partitioned[K comparable, V any] struct{ mp *Map[K, V] }

// Partitioned returns the map's partition-level side.
func (mp *Map[K, V]) Partitioned() Partitioned[K, V] { return Partitioned[K, V]{mp: mp} }

// Owned lists the partitions this member owns now, for readers co-located
// with the data (such as a job's source vertex).
func (p Partitioned[K, V]) Owned() []int { return p.mp.ownedPartitions() }

// Scan is Map.Scan over partition part: fn runs on the calling goroutine
// for each entry, until it returns false.
func (p Partitioned[K, V]) Scan(ctx context.Context, part int, fn func(K, V) bool) error {
	return p.mp.scanPartition(ctx, part, fn)
}

// ReadJournal reads up to max events of partition part's journal from
// sequence from, on the partition's owner. Reading at the end returns no
// events and Next == from; reading before what the ring still holds fails
// with ErrStaleSequence (Oldest says where to resume). The map must have
// been created WithJournal.
func (p Partitioned[K, V]) ReadJournal(ctx context.Context, part int, from uint64, max int) (JournalBatch[K, V], error) {
	return p.mp.readJournal(ctx, part, from, max)
}

// JournalWait returns a channel closed once partition part's journal on
// this member holds an event with sequence >= seq, for readers co-located
// with the partition; nil if this member holds no journal for it.
func (p Partitioned[K, V]) JournalWait(part int, seq uint64) <-chan struct{} {
	return p.mp.journalWait(part, seq)
}
