package grid

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
)

// record is one stored entry. Values stay msgpack bytes (held as a string:
// immutable and one word smaller than a slice); owners and backups never need
// the Go type. Expiry and access times live apart, in the store's
// timeTable, since most maps need neither: a record is 32 bytes, and with
// its key 48, one allocation size class smaller.
type record struct {
	val string
	upd int64  // version of the last write, about its unix ns: merges compare it (see tombstone.go)
	seq uint64 // partition sequence of the last write: near-cache ordering
}

// timing is an entry's expiry and last access, in unix ns; 0 expiry: never.
// Access times are kept to a second.
type timing struct {
	exp int64
	acc int64
}

// timeTable holds the timings of the entries of a store that need them:
// entries with an expiry, or every entry of a map with an idle limit or an
// entry limit. It is created on first use and shared by redefinitions of
// the store.
type timeTable struct {
	m atomic.Pointer[xsync.MapOf[string, timing]]
}

func (tt *timeTable) active() bool { return tt.m.Load() != nil }

func (tt *timeTable) get(key string) (timing, bool) {
	if m := tt.m.Load(); m != nil {
		return m.Load(key)
	}
	return timing{}, false
}

func (tt *timeTable) set(key string, t timing) {
	m := tt.m.Load()
	if m == nil {
		m = xsync.NewMapOf[string, timing]()
		if !tt.m.CompareAndSwap(nil, m) {
			m = tt.m.Load()
		}
	}
	m.Store(key, t)
}

func (tt *timeTable) remove(key string) {
	if m := tt.m.Load(); m != nil {
		m.Delete(key)
	}
}

// touch records an access, if the key still has a timing.
func (tt *timeTable) touch(key string, now int64) {
	if m := tt.m.Load(); m != nil {
		m.Compute(key, func(t timing, loaded bool) (timing, bool) {
			t.acc = now
			return t, !loaded
		})
	}
}

// store is one map's entries in one partition on one member.
type store struct {
	name    string
	cfg     storeConfig
	entries *xsync.MapOf[string, record]
	journal *journal // nil without a journal
	times   *timeTable
	tombs   *tombstones // guarded by the partition's lock
}

func newStore(name string, cfg storeConfig) *store {
	s := &store{name: name, cfg: cfg, entries: xsync.NewMapOf[string, record](), times: &timeTable{}, tombs: &tombstones{}}
	if cfg.JournalCapacity > 0 {
		s.journal = newJournal(cfg.JournalCapacity)
	}
	return s
}

// redefined returns a store with the same entries and a new definition.
// Stores are replaced rather than changed because reads use them without
// the partition lock.
func (s *store) redefined(cfg storeConfig) *store {
	ns := &store{name: s.name, cfg: cfg, entries: s.entries, journal: s.journal, times: s.times, tombs: s.tombs}
	if cfg.JournalCapacity > 0 && ns.journal == nil {
		ns.journal = newJournal(cfg.JournalCapacity)
	}
	return ns
}

// tracksAccess reports whether every entry needs an access time.
func (s *store) tracksAccess() bool { return s.cfg.MaxIdle > 0 || s.cfg.MaxEntries > 0 }

// mayExpire reports whether any entry of the store can expire.
func (s *store) mayExpire() bool { return s.cfg.TTL > 0 || s.cfg.MaxIdle > 0 || s.times.active() }

// expired reports whether key's entry has expired at now.
func (s *store) expired(key string, now int64) bool {
	t, ok := s.times.get(key)
	if !ok {
		return false
	}
	if t.exp != 0 && now >= t.exp {
		return true
	}
	return s.cfg.MaxIdle > 0 && now-t.acc >= s.cfg.MaxIdle
}

// expiry returns key's expiry time (0: none).
func (s *store) expiry(key string) int64 {
	t, _ := s.times.get(key)
	return t.exp
}

// put stores an entry with its expiry, replacing the key's tombstone. The
// caller holds the partition's lock. The timing is stored first: a
// lock-free reader may see the new timing with the old value, which is
// harmless, but never the old timing with the new value.
func (s *store) put(key string, r record, exp, now int64) {
	s.tombs.clear(key)
	switch {
	case exp != 0 || s.tracksAccess():
		s.times.set(key, timing{exp: exp, acc: now})
	case s.times.active():
		s.times.remove(key)
	}
	key, r.val = pack(key, r.val)
	s.entries.Store(key, r)
}

// pack copies key and val into one allocation and returns views of it.
// A lock-free read compares the stored key and then reads the value; with
// both in one block, that is one trip to memory where two allocations made
// it two, and the entry costs one allocation header instead of two. The map
// keeps the block alive through either view, and replacing or removing the
// entry releases it (a timing keeps its own key string, so an old value
// never stays behind).
func pack(key, val string) (string, string) {
	b := make([]byte, len(key)+len(val))
	copy(b, key)
	copy(b[len(key):], val)
	kv := unsafeString(b)
	return kv[:len(key)], kv[len(key):]
}

// remove deletes an entry and its timing. A delete (tomb != 0) leaves a
// tombstone of that version; an expiry or eviction leaves none.
func (s *store) remove(key string, tomb int64) {
	s.entries.Delete(key)
	s.times.remove(key)
	if tomb != 0 {
		s.tombs.add(key, tomb)
	}
}

// known returns the newest version this copy knows of key: its entry's,
// present or expired, or else its tombstone's or floor.
func (s *store) known(key string) int64 {
	if r, ok := s.entries.Load(key); ok {
		return r.upd
	}
	return s.tombs.known(key)
}

// part is everything a member holds for one partition, as owner or backup.
//
// Writes to a partition are applied one at a time under mu, which also
// queues their backup messages, so backups receive them in the order they
// were applied. Reads take no lock.
type part struct {
	id     int
	stores storeSet

	mu sync.Mutex // guards dedup, the gate fields, store creation, and writes to seq
	// seq is the sequence of the last write applied here; written under mu,
	// read without it by reads that report it to near caches.
	seq atomic.Uint64
	// writing is the sequence of the write being applied, set before it
	// changes an entry (seq is set after): see part.read.
	writing atomic.Uint64
	dedup   dedup
	frozen  bool // a migration holds writes
	// isFrozen mirrors frozen for reads, which take no lock: a frozen
	// partition may be about to change owner, so reads retry instead of
	// risking a value the new owner has already overwritten.
	isFrozen atomic.Bool
	thawed   chan struct{} // closed when frozen ends
	// inflight counts writes between entering the gate and their backups'
	// acknowledgements; freezing waits for it to reach zero.
	inflight int
	drained  chan struct{} // closed when inflight reaches zero while freezing
	// migratedAt is the table version that commits a migration out of this
	// partition; losing the partition at that version is not a reason to
	// merge its data anywhere.
	migratedAt uint64
}

func newPart(id int) *part {
	return &part{id: id, dedup: newDedup()}
}

// storeFor returns the map's store, creating it with cfg. A non-zero cfg
// must match the store's (a store created by a zero-config write adopts the
// first non-zero definition).
func (p *part) storeFor(name string, cfg storeConfig) (*store, error) {
	if s, ok := p.stores.Load(name); ok && (cfg.isZero() || s.cfg == cfg) {
		return s, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.storeForLocked(name, cfg)
}

func (p *part) storeForLocked(name string, cfg storeConfig) (*store, error) {
	s, ok := p.stores.Load(name)
	switch {
	case !ok:
		s = newStore(name, cfg)
		p.stores.Put(s)
	case cfg.isZero() || s.cfg == cfg:
	case s.cfg.isZero():
		// Defined by a write that had no opinion: adopt the definition.
		s = s.redefined(cfg)
		p.stores.Put(s)
	default:
		return nil, configMismatch(name, s.cfg, cfg)
	}
	return s, nil
}

// enter waits until the partition is not frozen and counts a write in.
func (p *part) enter(done <-chan struct{}) bool {
	for {
		p.mu.Lock()
		if !p.frozen {
			p.inflight++
			p.mu.Unlock()
			return true
		}
		thawed := p.thawed
		p.mu.Unlock()
		select {
		case <-thawed:
		case <-done:
			return false
		}
	}
}

// exit counts a write out.
func (p *part) exit() {
	p.mu.Lock()
	p.inflight--
	if p.inflight == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	p.mu.Unlock()
}

// freeze holds new writes and waits for the writes in flight.
func (p *part) freeze(done <-chan struct{}) bool {
	p.mu.Lock()
	if !p.frozen {
		p.frozen = true
		p.isFrozen.Store(true)
		p.thawed = make(chan struct{})
	}
	for p.inflight > 0 {
		if p.drained == nil {
			p.drained = make(chan struct{})
		}
		drained := p.drained
		p.mu.Unlock()
		select {
		case <-drained:
		case <-done:
			p.thaw()
			return false
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return true
}

func (p *part) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		p.isFrozen.Store(false)
		close(p.thawed)
	}
}

// migratedBy reports whether the partition was migrated out by a
// migration that the table of the given version commits; forget clears
// the mark under the same lock, for a table that drops the partition.
func (p *part) migratedBy(version uint64, forget bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	migrated := p.migratedAt != 0 && version >= p.migratedAt
	if forget {
		p.migratedAt = 0
	}
	return migrated
}

// clearUnless drops everything the member holds for the partition unless
// keep, called under the partition's lock, says otherwise.
func (p *part) clearUnless(keep func() bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if keep() {
		return
	}
	p.stores.Clear()
	p.dedup = newDedup()
}

func now() int64 { return time.Now().UnixNano() }
