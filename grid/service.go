package grid

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// ServiceName is the grid's name among a member's services.
const ServiceName = "grid"

// Service is the distributed maps, to give to member.Start (weir.Start
// gives it): the member then holds map partitions as owner and backup when
// it is a data member, and serves map handles (GetMap) either way.
func Service() member.Service { return member.Service{Name: ServiceName, Attach: attach} }

// service is the grid on one member: the partitions it holds as owner or
// backup, the routes that serve them, and the client side of every map
// handle created on this member.
type service struct {
	m     *member.Host
	parts []*part

	clientSeq atomic.Uint64 // request IDs of this member's non-idempotent operations
	subs      subscriptions // who wants this member's invalidations and events
	local     localSubs     // this member's near caches and listeners

	mu sync.Mutex // guards merging
	// merging holds partitions whose former owner is sending its entries
	// to the new owner after a healed network partition.
	merging map[int]bool

	// leftAt is when (unix ns) this member last applied a table that a
	// member had left: tombstones from then on are kept longer, in case it
	// is on the other side of a split (see tombstoneCutoff).
	leftAt atomic.Int64

	removeHook func()
	closed     atomic.Bool
	// statsOn turns on the counting of operations in ops (EnableStats).
	statsOn atomic.Bool
	ops     *xsync.MapOf[string, *opStats]
	// beforeDrop, set by tests only, runs in tableChanged between deciding
	// which partitions to drop and dropping them: a copy may arrive there.
	beforeDrop func()
	// actedOn is the last table tableChanged acted on: the member installs
	// a table before its listeners run, so ImportPartition may find a
	// table whose changes are not acted on yet.
	actedOn atomic.Pointer[partition.Table]
	// tableChanging, set by tests only, runs first in tableChanged, after
	// the member installed the new table.
	tableChanging func(old, new *partition.Table)
	// mergeRefused, set by tests only, sees each failed attempt of a merge
	// that sendMerge will try again.
	mergeRefused func(error)
}

func attach(m *member.Host) (member.Attached, error) {
	s := &service{m: m, merging: map[int]bool{}, ops: xsync.NewMapOf[string, *opStats]()}
	s.parts = make([]*part, m.PartitionCount())
	for i := range s.parts {
		s.parts[i] = newPart(i)
	}
	s.subs.init()
	s.local.init()
	m.Handle(routeGet, s.handleGet, member.Inline())
	m.Handle(routeOp, s.handleOp)
	m.Handle(routeBatch, s.handleBatch)
	m.Handle(routeBackup, s.handleBackup, member.Inline())
	m.Handle(routeLen, s.handleLen)
	m.Handle(routeScan, s.handleScan)
	m.Handle(routeClear, s.handleClear)
	m.Handle(routeJournal, s.handleJournal)
	m.Handle(routeEvents, s.handleEvents, member.Inline())
	m.Handle(routeSubscribe, s.handleSubscribe, member.Inline())
	m.Handle(routeHello, s.handleHello, member.Inline())
	m.Handle(routeMerge, s.handleMerge)
	m.Handle(routeStats, s.handleStats)
	m.RegisterReplicaService(ServiceName, s)
	s.removeHook = m.OnTableChange(s.tableChanged)
	m.Go(s.sweep)
	m.Go(s.resubscribe)
	return s, nil
}

func (s *service) Shutdown(context.Context) error {
	s.closed.Store(true)
	s.removeHook()
	s.local.closeAll()
	return nil
}

// serviceOf finds the grid service of a member. A member without one is a
// programming error, reported as such: the member was started without
// grid.Service (weir.Start gives it).
func serviceOf(m member.Services) *service {
	s, ok := m.Service(ServiceName).(*service)
	if !ok {
		panic("grid: the member serves no maps: start it with weir.Start, or give grid.Service() to member.Start")
	}
	return s
}

// tableChanged drops the partitions this member no longer holds, merges
// into their new owners the ones it lost without migrating them (a healed
// network partition), and tells near caches which partitions changed owner.
//
// Merges decide by version (see tombstone.go), so an old copy changes
// nothing the owner wrote or deleted since. A member whose table is stale
// (it lost the quorum, or stood still) wrote nothing apart, but merges all
// the same: the side with the quorum took over, empty, every partition
// whose copies were all cut off with it, and this member's copy is then
// the only one of what was acknowledged there before the split (a delete
// made since on the owner left a tombstone, so it still wins). A copy
// received for a table later than new is kept
// (a member behind the coordinator can learn of an older table after the
// copy arrived); one whose table came without this member is dropped.
func (s *service) tableChanged(old, new *partition.Table) {
	defer s.actedOn.Store(new)
	if s.tableChanging != nil {
		s.tableChanging(old, new)
	}
	if old == nil {
		return
	}
	me := s.m.ID()
	for _, id := range old.Members() {
		if !slices.Contains(new.Members(), id) {
			s.leftAt.Store(now())
			break
		}
	}
	// laterCopy reports whether the member holds a copy of p for a table
	// later than new (see Member.ImportCommit), which new must not drop.
	laterCopy := func(p int) bool { return s.m.ImportCommit(p) > new.Version() }
	var moved, merge, drop []int
	for p := range new.Count() {
		if old.Owner(p) != new.Owner(p) {
			moved = append(moved, p)
		}
		if new.ReplicaIndex(p, me) >= 0 {
			continue
		}
		held := old.ReplicaIndex(p, me) >= 0
		owned := held && old.Owner(p) == me && new.Owner(p) != ""
		pt := s.parts[p]
		if laterCopy(p) {
			// The copy replaces, or has replaced, what this member held.
			// If that was the owner's copy, lost without a migration, it
			// is merged all the same: ImportPartition merges what it
			// replaces only if it finds this member the owner, and the
			// table it looked at may have been new already (a table is
			// installed before its listeners run). Merged twice, or the
			// copy merged back, it changes nothing.
			if owned && !pt.migratedBy(new.Version(), false) {
				merge = append(merge, p)
			}
			continue
		}
		if !held && s.m.ImportCommit(p) == 0 {
			continue
		}
		// Dropped, the partition forgets its migration either way.
		migrated := pt.migratedBy(new.Version(), true)
		if owned && !migrated {
			merge = append(merge, p)
		}
		drop = append(drop, p)
	}
	s.mergeAway(merge)
	if s.beforeDrop != nil {
		s.beforeDrop()
	}
	for _, p := range drop {
		// A copy for a later table may have arrived since the loop above
		// looked: ImportPartition takes the partition's lock, so a check
		// made under it sees the copy's commit, or the copy lands after the
		// drop. Dropping it made the member serve the partition empty once
		// that later table committed the copy: every entry and journal
		// event lost.
		s.parts[p].clearUnless(func() bool { return laterCopy(p) })
	}
	s.local.ownersChanged(moved)
}

// FreezePartition implements member.ReplicaService: it holds writes to p and
// exports everything the member holds for it.
func (s *service) FreezePartition(ctx context.Context, p int, commit uint64) ([]byte, error) {
	pt := s.parts[p]
	if !pt.freeze(ctx.Done()) {
		return nil, ctx.Err()
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.migratedAt = commit
	return wire.Marshal(pt.exportLocked(&s.subs))
}

// ThawPartition implements member.ReplicaService.
// A partition still held when it thaws was not migrated after all.
func (s *service) ThawPartition(p int) {
	pt := s.parts[p]
	pt.mu.Lock()
	pt.migratedAt = 0
	pt.mu.Unlock()
	pt.thaw()
}

// ImportPartition implements member.ReplicaService: it replaces what the
// member holds for p with the owner's copy.
//
// A member never receives a copy of a partition it owns and has not
// migrated away, except when a network partition heals: the kept table's
// side then copies its data over what this member wrote while apart. Those
// entries are merged into the owner once the table that commits the copy
// arrives, as mergeAway does for partitions lost outright. A member whose
// table is stale merges too (see tableChanged): its copy may be the only
// one of what the partition held before the split.
func (s *service) ImportPartition(_ context.Context, p int, data []byte) error {
	var d partData
	if err := wire.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("partition %d: %w", p, err)
	}
	t := s.m.Partitions()
	pt := s.parts[p]
	pt.mu.Lock()
	var apart []mergeMsg
	// The member's table may be newer than the one tableChanged last
	// acted on: what this member owned there, it has not merged yet.
	owns := func(t *partition.Table) bool { return t != nil && t.Owner(p) == s.m.ID() }
	if (owns(t) || owns(s.actedOn.Load())) && pt.migratedAt == 0 {
		apart = pt.mergeMsgsLocked(p, nil)
	}
	pt.importDataLocked(&d)
	pt.mu.Unlock()
	if t != nil {
		s.sendMerges(apart, t.Version())
	}
	for name, members := range d.Subs {
		for id, kinds := range members {
			s.subs.add(name, id, kinds)
		}
	}
	return nil
}

// partData is a partition's full state, as migrations copy it.
type partData struct {
	Seq    uint64                      `msgpack:"s"`
	Stores []storeData                 `msgpack:"m"`
	Dedup  []dedupEntry                `msgpack:"d"`
	Subs   map[string]map[string]uint8 `msgpack:"u,omitempty"`
}

type storeData struct {
	Name    string       `msgpack:"n"`
	Cfg     storeConfig  `msgpack:"c"`
	Entries []wireRecord `msgpack:"e"`
	Journal *journalData `msgpack:"j,omitempty"`
	Tombs   []wireRecord `msgpack:"t,omitempty"`
	Floor   int64        `msgpack:"f,omitempty"`
}

func (p *part) exportLocked(subs *subscriptions) *partData {
	d := &partData{Seq: p.seq.Load(), Dedup: p.dedup.entries(), Subs: subs.snapshot()}
	p.stores.Range(func(name string, st *store) bool {
		sd := storeData{Name: name, Cfg: st.cfg, Entries: make([]wireRecord, 0, st.entries.Size())}
		st.entries.Range(func(k string, r record) bool {
			sd.Entries = append(sd.Entries, wireRecord{Key: []byte(k), Val: []byte(r.val), Upd: r.upd, Exp: st.expiry(k), Seq: r.seq})
			return true
		})
		if st.journal != nil {
			j := st.journal.snapshot()
			sd.Journal = &j
		}
		sd.Tombs, sd.Floor = st.tombs.export(), st.tombs.floor
		d.Stores = append(d.Stores, sd)
		return true
	})
	return d
}

// importDataLocked replaces the partition's state with d. The caller holds
// p.mu.
func (p *part) importDataLocked(d *partData) {
	p.stores.Clear()
	p.seq.Store(max(p.seq.Load(), d.Seq))
	for _, sd := range d.Stores {
		st := newStore(sd.Name, sd.Cfg)
		t := now()
		for _, r := range sd.Entries {
			st.put(string(r.Key), record{val: string(r.Val), upd: r.Upd, seq: r.Seq}, r.Exp, t)
		}
		if st.journal != nil && sd.Journal != nil {
			st.journal.restore(*sd.Journal)
		}
		st.tombs.restore(sd.Tombs, sd.Floor)
		p.stores.Put(st)
	}
	p.dedup = newDedup()
	for _, e := range d.Dedup {
		p.dedup.put(e.ID, e.Outcome)
	}
}
