package grid

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"
)

// record is one stored entry. Values stay msgpack bytes (held as a string:
// immutable and one word smaller than a slice); owners and backups never need
// the Go type.
type record struct {
	val string
	upd int64  // unix ns of the last write: "latest update wins" merges
	exp int64  // unix ns expiry; 0: never
	acc int64  // unix ns of the last access, to a second: max-idle and LRU
	seq uint64 // partition sequence of the last write: near-cache ordering
}

func (r *record) expired(now int64, cfg *storeConfig) bool {
	if r.exp != 0 && now >= r.exp {
		return true
	}
	return cfg.MaxIdle > 0 && now-r.acc >= cfg.MaxIdle
}

// store is one map's entries in one partition on one member.
type store struct {
	name    string
	cfg     storeConfig
	entries *xsync.MapOf[string, record]
	journal *journal // nil without a journal
	// hasExpiry is set once any entry has an expiry time, so the sweeper
	// and Len can skip stores whose entries never expire.
	hasExpiry *atomic.Bool
}

func newStore(name string, cfg storeConfig) *store {
	s := &store{name: name, cfg: cfg, entries: xsync.NewMapOf[string, record](), hasExpiry: new(atomic.Bool)}
	if cfg.JournalCapacity > 0 {
		s.journal = newJournal(cfg.JournalCapacity)
	}
	return s
}

// redefined returns a store with the same entries and a new definition.
// Stores are replaced rather than changed because reads use them without
// the partition lock.
func (s *store) redefined(cfg storeConfig) *store {
	ns := &store{name: s.name, cfg: cfg, entries: s.entries, journal: s.journal, hasExpiry: s.hasExpiry}
	if cfg.JournalCapacity > 0 && ns.journal == nil {
		ns.journal = newJournal(cfg.JournalCapacity)
	}
	return ns
}

// part is everything a member holds for one partition, as owner or backup.
//
// Writes to a partition are applied one at a time under mu, which also
// queues their backup messages, so backups receive them in the order they
// were applied. Reads take no lock.
type part struct {
	id     int
	stores *xsync.MapOf[string, *store]

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
	return &part{id: id, stores: xsync.NewMapOf[string, *store](), dedup: newDedup()}
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
		p.stores.Store(name, s)
	case cfg.isZero() || s.cfg == cfg:
	case s.cfg.isZero():
		// Defined by a write that had no opinion: adopt the definition.
		s = s.redefined(cfg)
		p.stores.Store(name, s)
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

// clear drops everything the member holds for the partition.
func (p *part) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stores.Clear()
	p.dedup = newDedup()
}

func now() int64 { return time.Now().UnixNano() }
