package partition

import (
	"github.com/cespare/xxhash/v2"
	jump "github.com/dgryski/go-jump"
)

// DefaultCount is the partition count of a cluster that does not choose one,
// as in Hazelcast: a table this size ships in about a kilobyte, yet gives
// each of up to ~50 members several partitions, so one more or less is a
// small imbalance.
const DefaultCount = 271

// Hash is the stable 64-bit hash of an encoded key. It must never change: every
// member of a cluster, of any build, has to send a key to the same partition.
func Hash(key []byte) uint64 {
	return xxhash.Sum64(key)
}

// ForHash maps a key hash to a partition in [0, n). Jump consistent hashing
// needs no table and moves only 1/n of the keys if n ever grows, although weir
// keeps n fixed for the life of a cluster. It panics if n < 1.
func ForHash(h uint64, n int) int {
	if n < 1 {
		panic("partition: partition count must be at least 1")
	}
	return int(jump.Hash(h, n))
}

// ForKey is the partition of an encoded key (msgpack bytes, as maps store
// them) in a cluster of n partitions.
func ForKey(key []byte, n int) int {
	return ForHash(Hash(key), n)
}
