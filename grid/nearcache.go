package grid

import (
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/internal/codec"
)

// nearCache keeps decoded copies of entries this member read, so a hit
// costs one concurrent-map lookup: no encoding, no round trip.
//
// Freshness: every write on an owner sends subscribers an invalidation
// carrying the partition's write sequence; a read response carries a
// sequence up to which the value it returns reflects every write to its key.
// A response is cached only if nothing later (an invalidation, or another
// response) is known for its partition, and an invalidation removes a cached
// entry read before it. So once an invalidation has arrived, the cache never
// serves the value it replaced, whatever order responses and invalidations
// arrive in (they travel on different connections); and the cache never
// replaces a value with one read earlier, so while a partition keeps its
// owner, readers on this member never see a key of it go back to an older
// value, whatever goroutine read it first. When a partition changes owner the
// entries of that partition are dropped, since the new owner's invalidations
// may not cover what the old one served.
type nearCache[K comparable, V any] struct {
	cfg     NearCacheConfig
	entries *xsync.MapOf[K, nearEntry[V]]
	// cached holds when each entry was cached (unix ns), only with a TTL:
	// the entries themselves stay as small as a lookup can read.
	cached *xsync.MapOf[K, int64]
	// known[p] is the highest sequence of partition p this cache has seen,
	// in an invalidation or a read response.
	known []atomic.Uint64
	kc    codec.Codec[K]

	// Striped counters: a shared atomic would be the hottest cache line of
	// every hit.
	hits, misses, invalidations, evictions *stripedCounter
}

// nearEntry is a cached value with the partition and sequence it was read
// at, packed in one word: with a []byte value the map's entry is 48 bytes,
// as small as a plain map of the same keys and values, where it was 64
// (the hit rate of a cache that fits in the CPU's caches depends on it).
type nearEntry[V any] struct {
	v    V
	meta uint64 // seq<<16 | partition (PartitionCount is at most 1<<16)
}

// maxNearSeq bounds the sequences an entry can carry; a value read at a
// higher one (2^48 writes to one partition) is not cached.
const maxNearSeq = 1<<48 - 1

func (e nearEntry[V]) seq() uint64 { return e.meta >> 16 }
func (e nearEntry[V]) part() int32 { return int32(e.meta & 0xffff) }

func newNearCache[K comparable, V any](cfg NearCacheConfig, partitions int, kc codec.Codec[K]) *nearCache[K, V] {
	var cached *xsync.MapOf[K, int64]
	if cfg.TTL > 0 {
		cached = xsync.NewMapOf[K, int64]()
	}
	return &nearCache[K, V]{
		cfg:     cfg,
		entries: xsync.NewMapOf[K, nearEntry[V]](),
		cached:  cached,
		known:   make([]atomic.Uint64, partitions),
		kc:      kc,
		hits:    newStripedCounter(), misses: newStripedCounter(),
		invalidations: newStripedCounter(), evictions: newStripedCounter(),
	}
}

func (c *nearCache[K, V]) get(k K) (V, bool) {
	e, ok := c.entries.Load(k)
	if ok && c.cached != nil {
		// No time (a put racing with a drop): count it as expired.
		if at, timed := c.cached.Load(k); !timed || time.Now().UnixNano()-at > int64(c.cfg.TTL) {
			c.drop(k, e.seq()+1)
			ok = false
		}
	}
	if !ok {
		c.misses.inc()
		var zero V
		return zero, false
	}
	c.hits.inc()
	return e.v, true
}

// put caches v, read from the owner at sequence seq, unless it may be stale.
func (c *nearCache[K, V]) put(k K, part int, seq uint64, v V) {
	c.raise(part, seq)
	if seq > maxNearSeq {
		c.drop(k, seq) // what is cached is older than v
		return
	}
	if c.entries.Size() >= c.cfg.MaxEntries {
		c.evictSome()
	}
	if c.cached != nil {
		// Stored before the entry: an entry is never seen with an older time.
		c.cached.Store(k, time.Now().UnixNano())
	}
	// Decided under the key's lock, which drop takes too, after raising
	// known: of two puts, or a put and an invalidation, the second to take
	// the lock sees the first's sequence.
	c.entries.Compute(k, func(e nearEntry[V], loaded bool) (nearEntry[V], bool) {
		if c.known[part].Load() > seq {
			// A later write was announced or a later read answered: v may be
			// stale. Copies older than v go too, since the caller returns v.
			return e, !loaded || e.seq() < seq
		}
		if loaded && e.seq() > seq {
			return e, false // read later than v
		}
		return nearEntry[V]{v: v, meta: seq<<16 | uint64(part)}, false
	})
}

// absent records that a read at sequence seq found no value for k: copies
// of k read at or before seq are older than that.
func (c *nearCache[K, V]) absent(k K, part int, seq uint64) {
	c.raise(part, seq)
	c.drop(k, seq+1)
}

// raise records that partition part has reached sequence seq.
func (c *nearCache[K, V]) raise(part int, seq uint64) {
	for {
		cur := c.known[part].Load()
		if seq <= cur || c.known[part].CompareAndSwap(cur, seq) {
			return
		}
	}
}

// evictSome removes a few entries to make room.
func (c *nearCache[K, V]) evictSome() {
	n := 0
	c.entries.Range(func(k K, _ nearEntry[V]) bool {
		c.entries.Delete(k)
		if c.cached != nil {
			c.cached.Delete(k)
		}
		c.evictions.inc()
		n++
		return n < 16
	})
}

// drop removes k if it was cached from a read older than seq.
func (c *nearCache[K, V]) drop(k K, seq uint64) {
	c.entries.Compute(k, func(e nearEntry[V], loaded bool) (nearEntry[V], bool) {
		del := !loaded || e.seq() < seq
		if del && loaded && c.cached != nil {
			c.cached.Delete(k)
		}
		return e, del
	})
}

func (c *nearCache[K, V]) invalidate(part int, seq uint64, key []byte) {
	if part < 0 || part >= len(c.known) {
		return
	}
	c.raise(part, seq)
	k, err := c.kc.Decode(key)
	if err != nil {
		return // written through another key type: nothing of ours
	}
	c.invalidations.inc()
	c.drop(k, seq)
}

func (c *nearCache[K, V]) ownersChanged(parts []int) {
	moved := make(map[int32]bool, len(parts))
	for _, p := range parts {
		moved[int32(p)] = true
	}
	c.entries.Range(func(k K, e nearEntry[V]) bool {
		if moved[e.part()] {
			c.entries.Delete(k)
			if c.cached != nil {
				c.cached.Delete(k)
			}
		}
		return true
	})
}

// NearCacheStats counts a near cache's activity.
type NearCacheStats struct {
	Hits, Misses, Invalidations, Evictions int64
	Entries                                int
}

// NearCacheStats returns the handle's near-cache counters (zero without a
// near cache).
func (mp *Map[K, V]) NearCacheStats() NearCacheStats {
	if mp.near == nil {
		return NearCacheStats{}
	}
	return mp.near.stats()
}

func (c *nearCache[K, V]) stats() NearCacheStats {
	return NearCacheStats{
		Hits: c.hits.value(), Misses: c.misses.value(), Invalidations: c.invalidations.value(),
		Evictions: c.evictions.value(), Entries: c.entries.Size(),
	}
}
