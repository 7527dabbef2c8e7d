package grid

import (
	"sync"
	"sync/atomic"
)

// storeSet is a partition's stores, by map name. A partition holds few
// maps, so the set is an immutable list replaced on every change: a lookup
// is a short scan with no hashing and no lock, and a partition costs a
// pointer and a short list, where a concurrent map cost a table of about
// 2.8 kB per partition (1.5 MB of an idle 2-member cluster's 2.5 MB heap)
// that every GC cycle scanned. Past storeSetScan maps, the list carries an
// index by name.
type storeSet struct {
	mu   sync.Mutex // serializes changes
	list atomic.Pointer[storeList]
}

// storeList is one immutable version of a storeSet.
type storeList struct {
	stores []*store
	byName map[string]*store // only past storeSetScan stores
}

// storeSetScan is the longest list searched by scanning.
const storeSetScan = 8

// Load returns the store of map name.
func (ss *storeSet) Load(name string) (*store, bool) {
	l := ss.list.Load()
	if l == nil {
		return nil, false
	}
	if l.byName != nil {
		st, ok := l.byName[name]
		return st, ok
	}
	for _, st := range l.stores {
		if st.name == name {
			return st, true
		}
	}
	return nil, false
}

// Put adds st, replacing the store of the same map if there is one.
func (ss *storeSet) Put(st *store) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var stores []*store
	if l := ss.list.Load(); l != nil {
		stores = make([]*store, 0, len(l.stores)+1)
		for _, s := range l.stores {
			if s.name != st.name {
				stores = append(stores, s)
			}
		}
	}
	stores = append(stores, st)
	next := &storeList{stores: stores}
	if len(stores) > storeSetScan {
		next.byName = make(map[string]*store, len(stores))
		for _, s := range stores {
			next.byName[s.name] = s
		}
	}
	ss.list.Store(next)
}

// Range calls fn with each store until it returns false. It sees the set
// as it was when Range began.
func (ss *storeSet) Range(fn func(name string, st *store) bool) {
	if l := ss.list.Load(); l != nil {
		for _, st := range l.stores {
			if !fn(st.name, st) {
				return
			}
		}
	}
}

// Clear removes every store.
func (ss *storeSet) Clear() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.list.Store(nil)
}
