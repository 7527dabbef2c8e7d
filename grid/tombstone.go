package grid

import (
	"sort"
	"time"
)

// Versions and tombstones: how merges decide.
//
// Every write of a key is numbered with a version, record.upd: the owner's
// clock in unix ns, raised to one above the version it replaces when the
// clock is behind (a promoted backup whose clock lags the old owner's). So
// along one key's history, as the owners and backups that hold it see it,
// versions only grow: a write or delete is always newer than the write it
// replaced, whichever member's clock numbered each.
//
// A delete leaves a tombstone: the key and the version of the delete,
// replicated to the backups and copied by migrations like an entry. When
// copies of a partition meet (a healed split, a member back from a pause,
// a copy that arrives for a partition this member wrote apart), an entry or
// tombstone from the other copy is applied only if its version is newer than
// everything the receiving copy knows of the key: its entry, its tombstone,
// or its floor. So a delete wins over every older write of its key, and a
// member the cluster has moved past brings back nothing it held from before,
// only what it wrote later.
//
// Tombstones are purged by age (see tombstoneCutoff). Purging one raises
// the store's floor to its version: a copy forgets which keys it deleted up
// to the floor, but not that a key it does not hold, seen at or below the
// floor, is older than something it forgot. A delete therefore still wins
// after its tombstone is gone. What the floor costs is on the other side: a
// write made apart during a split without a quorum, to a key the receiving
// copy does not hold, is refused if it is older than the floor. The
// retention below keeps the floor under the start of any recent split.

const (
	// tombstoneMinAge is how long a tombstone is kept when no member has
	// left the table lately. It must cover the time a split takes to be
	// noticed (failure detection and the coordinator's wait) plus the
	// clocks' skew: writes made apart on the other side are newer than the
	// split, and the floor must stay below them.
	tombstoneMinAge = 30 * time.Second
	// tombstoneSplitRetention is how long after a member left the table
	// tombstones from just before its departure on are kept: a split that
	// heals within it merges both sides' writes and deletes, latest winning.
	tombstoneSplitRetention = 10 * time.Minute
)

// tombstoneCutoff returns the version below which tombstones may be purged
// at now, given the time (0: never) this member last saw a member leave its
// table: now less tombstoneMinAge, but no later than that departure less
// tombstoneMinAge while it is within tombstoneSplitRetention.
func tombstoneCutoff(now, leftAt int64) int64 {
	cut := now - int64(tombstoneMinAge)
	if leftAt != 0 && now-leftAt < int64(tombstoneSplitRetention) {
		cut = min(cut, leftAt-int64(tombstoneMinAge))
	}
	return cut
}

// tombstones are a store's deleted keys with the versions of their
// deletes, and its floor. They are guarded by the partition's lock; reads do
// not look at them.
type tombstones struct {
	vers  map[string]int64
	queue []tomb // in order of deletion, for purging by age; may hold superseded ones
	head  int
	floor int64 // the newest version of a purged tombstone
}

type tomb struct {
	key string
	ver int64
}

// known returns the newest version this copy knows for a key it holds no
// entry of: its tombstone's, or else the floor.
func (ts *tombstones) known(key string) int64 {
	if v, ok := ts.vers[key]; ok {
		return v
	}
	return ts.floor
}

// lookup returns key's tombstone version.
func (ts *tombstones) lookup(key string) (int64, bool) {
	v, ok := ts.vers[key]
	return v, ok
}

func (ts *tombstones) add(key string, ver int64) {
	if ts.vers == nil {
		ts.vers = map[string]int64{}
	}
	ts.vers[key] = ver
	ts.queue = append(ts.queue, tomb{key: key, ver: ver})
}

// clear forgets key's tombstone: the key was written again.
func (ts *tombstones) clear(key string) {
	if len(ts.vers) > 0 {
		delete(ts.vers, key)
	}
}

func (ts *tombstones) len() int { return len(ts.vers) }

// purge drops the tombstones older than cutoff, in deletion order, raising
// the floor to each one's version, and returns how many it dropped.
func (ts *tombstones) purge(cutoff int64) int {
	n := 0
	for ts.head < len(ts.queue) && ts.queue[ts.head].ver < cutoff {
		t := ts.queue[ts.head]
		ts.queue[ts.head] = tomb{}
		ts.head++
		if v, ok := ts.vers[t.key]; ok && v == t.ver {
			delete(ts.vers, t.key)
			ts.floor = max(ts.floor, t.ver)
			n++
		}
	}
	switch {
	case ts.head == len(ts.queue):
		ts.queue, ts.head = ts.queue[:0], 0
	case ts.head > len(ts.queue)/2 && ts.head > 64:
		ts.queue = append(ts.queue[:0], ts.queue[ts.head:]...)
		ts.head = 0
	}
	if len(ts.vers) == 0 {
		ts.vers = nil // a map does not shrink: let a burst of deletes go
	}
	return n
}

// export lists the tombstones, as migrations and merges carry them.
func (ts *tombstones) export() []wireRecord {
	out := make([]wireRecord, 0, len(ts.vers))
	for k, v := range ts.vers {
		out = append(out, wireRecord{Key: []byte(k), Upd: v, Del: true})
	}
	return out
}

// restore replaces the tombstones with a copy's.
func (ts *tombstones) restore(recs []wireRecord, floor int64) {
	*ts = tombstones{floor: floor}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Upd < recs[j].Upd })
	for _, r := range recs {
		ts.add(string(r.Key), r.Upd)
	}
}

// nextVersion numbers a write at clock time t of a key whose newest known
// version is known: t, or one above known when the clock lags it.
func nextVersion(t, known int64) int64 { return max(t, known+1) }

// purgeTombstones drops, on every partition this member holds, the
// tombstones past their retention. Owners and backups purge their own
// copies, each by its own clock; no message is needed, since a purged
// tombstone lives on in the floor.
func (s *service) purgeTombstones() { s.purgeBefore(tombstoneCutoff(now(), s.leftAt.Load())) }

// purgeBefore drops every tombstone older than cutoff.
func (s *service) purgeBefore(cutoff int64) {
	for _, pt := range s.parts {
		pt.mu.Lock()
		pt.stores.Range(func(_ string, st *store) bool {
			st.tombs.purge(cutoff)
			return true
		})
		pt.mu.Unlock()
	}
}
