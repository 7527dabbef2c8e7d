package grid

import (
	"time"
)

// MapOption configures a map handle returned by GetMap.
type MapOption func(*mapOptions)

type mapOptions struct {
	store     storeConfig
	near      *NearCacheConfig
	maxKey    int
	maxValue  int
	opTimeout time.Duration
}

// storeConfig is what the members storing a map must agree on. It travels
// with writes, so the member that creates a map's storage, and its backups,
// create it the same way; a write carrying a different non-zero definition
// is refused with ErrConfigMismatch.
type storeConfig struct {
	JournalCapacity int   `msgpack:"j,omitempty"` // events kept per partition; 0: no journal
	TTL             int64 `msgpack:"t,omitempty"` // default time to live, ns; 0: none
	MaxIdle         int64 `msgpack:"i,omitempty"` // ns without access before expiry; 0: none
	MaxEntries      int   `msgpack:"m,omitempty"` // per member; 0: no limit
}

func (c storeConfig) isZero() bool { return c == storeConfig{} }

// NearCacheConfig configures a near cache: a copy of recently read entries
// on the reading member, invalidated by the owners on every change.
type NearCacheConfig struct {
	// MaxEntries bounds the cache; beyond it, entries are evicted at random.
	// Default 100,000.
	MaxEntries int
	// TTL bounds how long an entry is served without asking the owner,
	// protecting against an invalidation lost with a broken connection.
	// Default 0: no bound, invalidations alone keep the cache fresh.
	TTL time.Duration
}

// WithNearCache keeps a local copy of the entries this member reads, so
// repeated reads of hot keys cost no round trip. Owners invalidate the copy
// on every change. Use it for enrichment lookups and read-mostly caches.
// The cache holds decoded values and a hit returns the cached value itself,
// not a copy: treat values holding slices, maps or pointers as read-only.
func WithNearCache(cfg NearCacheConfig) MapOption {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	return func(o *mapOptions) { o.near = &cfg }
}

// WithJournal keeps an event journal: the last perPartition changes of each
// partition, with sequence numbers, readable from any sequence still held.
// Streaming jobs read it as a replayable source.
func WithJournal(perPartition int) MapOption {
	return func(o *mapOptions) { o.store.JournalCapacity = perPartition }
}

// WithTTL expires entries d after their last write, unless a write sets its
// own TTL.
func WithTTL(d time.Duration) MapOption {
	return func(o *mapOptions) { o.store.TTL = int64(d) }
}

// WithMaxIdle expires entries not read or written for d. Reads refresh the
// idle clock with a resolution of a second.
func WithMaxIdle(d time.Duration) MapOption {
	return func(o *mapOptions) { o.store.MaxIdle = int64(d) }
}

// WithMaxEntries bounds the entries each member owns for this map; beyond
// it, writes evict approximately least recently used entries (sampled).
func WithMaxEntries(n int) MapOption {
	return func(o *mapOptions) { o.store.MaxEntries = n }
}

// WithSizeLimits sets the largest encoded key and value accepted (defaults
// 64 KiB and 16 MiB); larger ones fail with ErrTooLarge before anything is
// sent.
func WithSizeLimits(maxKey, maxValue int) MapOption {
	return func(o *mapOptions) { o.maxKey, o.maxValue = maxKey, maxValue }
}

// WithOpTimeout bounds each operation that has no deadline in its context
// (default 30s): an operation retries through migrations and failovers, and
// this is how long it may keep trying.
func WithOpTimeout(d time.Duration) MapOption {
	return func(o *mapOptions) { o.opTimeout = d }
}

func buildOptions(opts []MapOption) mapOptions {
	o := mapOptions{maxKey: 64 << 10, maxValue: 16 << 20, opTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
