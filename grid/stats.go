package grid

import (
	"context"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// OpKinds names the kinds of map operation that OpStats counts, in the
// order of MapStats.Ops: single-key operations by their opCode, then the
// batches.
var OpKinds = [numOpKinds]string{
	"get", "put", "put_if_absent", "replace", "compare_and_swap", "delete",
	"compare_and_delete", "execute", "get_all", "put_all",
}

const (
	numOpKinds = 10
	kindGetAll = 8
	kindPutAll = 9
	// LatencyBuckets is the number of finite latency buckets: bucket i
	// counts operations of at most 1024ns << 2i (about 1µs to 1s, each
	// bound 4 times the one before).
	LatencyBuckets = 11
	// latencySample is how many operations share one timed sample: timing
	// every one would cost an owned Get (a few hundred nanoseconds) more
	// than the 3% the metrics may take. The count a stripe returns picks
	// the sample, so that choosing costs nothing.
	latencySample = 16
)

// LatencySampling is the share of operations whose latency is measured:
// one in LatencySampling (every LatencySampling-th of a stripe of the
// counters, so operations of one goroutine are sampled evenly).
const LatencySampling = latencySample

// kindOf maps an opCode to its OpKinds index.
func kindOf(c opCode) int {
	if c >= opGet && c <= opExecute {
		return int(c - opGet)
	}
	return -1
}

// opStats counts one map's operations on this member's handles, striped as
// stripedCounter is, and times a sample of them. A stripe is written by
// the goroutines that hash to it only, so that two cores counting at once
// write no cache line in common: the counts and, for the sampled
// operations, the latency histograms (allocated on a stripe's first
// sample, since most stripes of most maps are never used) both live in
// the stripe. Summing happens when stats are read.
type opStats struct {
	stripes []opStripe
	mask    uintptr
}

type opStripe struct {
	n    [numOpKinds]atomic.Int64
	hist atomic.Pointer[[numOpKinds]latencyHist]
	_    [128 - (8*numOpKinds+8)%128]byte
}

type latencyHist struct {
	buckets [LatencyBuckets + 1]atomic.Int64 // the last: above every bound
	sumNS   atomic.Int64
}

func newOpStats() *opStats {
	c := newStripedCounter() // for its stripe count and mask
	return &opStats{stripes: make([]opStripe, len(c.stripes)), mask: c.mask}
}

// statsEpoch is the origin of the monotonic readings of sampled
// operations: time.Since(statsEpoch) reads one clock where time.Now reads
// two (wall and monotonic), and a clock read costs tens of nanoseconds
// on a virtual machine.
var statsEpoch = time.Now()

// opStart is what begin returns: the stripe an operation was counted in
// and, when it is one of the sampled ones, its start on the monotonic
// clock since statsEpoch (0 otherwise).
type opStart struct {
	stripe *opStripe
	at     time.Duration
}

// begin counts an operation of kind and starts timing it when it is one
// of the sampled ones.
func (o *opStats) begin(kind int) opStart {
	var anchor byte
	h := uint64(uintptr(unsafe.Pointer(&anchor))>>11) * 0x9e3779b97f4a7c15
	st := &o.stripes[uintptr(h>>40)&o.mask]
	if st.n[kind].Add(1)%latencySample != 0 {
		return opStart{}
	}
	return opStart{stripe: st, at: max(time.Since(statsEpoch), 1)}
}

// end records a sampled operation's latency, in the stripe that counted it.
func (o *opStats) end(kind int, start opStart) {
	if start.at == 0 {
		return
	}
	ns := int64(time.Since(statsEpoch) - start.at)
	hs := start.stripe.hist.Load()
	if hs == nil {
		hs = new([numOpKinds]latencyHist)
		if !start.stripe.hist.CompareAndSwap(nil, hs) {
			hs = start.stripe.hist.Load()
		}
	}
	h := &hs[kind]
	h.buckets[min((bits.Len64(uint64(max(ns-1, 0))>>10)+1)/2, LatencyBuckets)].Add(1)
	h.sumNS.Add(ns)
}

// addTo adds the counts and latencies to ms.
func (o *opStats) addTo(ms *MapStats) {
	for i := range o.stripes {
		st := &o.stripes[i]
		for k := range numOpKinds {
			ms.Ops[k] += st.n[k].Load()
		}
		hs := st.hist.Load()
		if hs == nil {
			continue
		}
		for k := range numOpKinds {
			for b := range hs[k].buckets {
				ms.Latency[k][b] += hs[k].buckets[b].Load()
			}
			ms.LatencySum[k] += time.Duration(hs[k].sumNS.Load())
		}
	}
}

// MapStats describes one map on this member, for metrics.
type MapStats struct {
	Name string
	// Entries and BackupEntries are the entries in the partitions this
	// member owns and in those it backs up.
	Entries, BackupEntries int64
	// JournalEvents and JournalCapacity are the events held and the room in
	// the event journals of the partitions this member owns (0 without a
	// journal).
	JournalEvents, JournalCapacity int64
	// Near sums the near caches of this member's handles on the map.
	Near NearCacheStats
	// Ops counts the operations of this member's handles by kind (OpKinds);
	// a Get answered by a near cache is counted in Near.Hits only.
	Ops [numOpKinds]int64
	// Latency holds, by kind, the sampled latencies (see LatencySampling):
	// per bucket (not cumulative), the last above every bound.
	Latency [numOpKinds][LatencyBuckets + 1]int64
	// LatencySum is the sum of the sampled latencies by kind.
	LatencySum [numOpKinds]time.Duration
}

// LatencyBound returns bucket i's upper bound.
func LatencyBound(i int) time.Duration { return time.Duration(1024 << (2 * i)) }

// EnableStats turns the counting of operations and the sampling of their
// latency on or off for the maps used through member m (off when a member
// starts: an ops endpoint turns it on). Stats reports what was counted.
func EnableStats(m member.Services, on bool) { serviceOf(m).statsOn.Store(on) }

// Stats describes every map that has entries on this member or
// operations through its handles, sorted by name. It reads counters and
// sizes without stopping writers: each figure is current, not all of
// them at one instant.
func Stats(m member.Services) []MapStats {
	s := serviceOf(m)
	byName := map[string]*MapStats{}
	get := func(name string) *MapStats {
		ms := byName[name]
		if ms == nil {
			ms = &MapStats{Name: name}
			byName[name] = ms
		}
		return ms
	}
	me := s.m.ID()
	t := s.m.Partitions()
	for p, pt := range s.parts {
		idx := -1
		if t != nil {
			idx = t.ReplicaIndex(p, me)
		}
		pt.stores.Range(func(name string, st *store) bool {
			ms := get(name)
			n := int64(st.entries.Size())
			if idx == 0 {
				ms.Entries += n
				if st.journal != nil {
					oldest, next := st.journal.bounds()
					ms.JournalEvents += int64(next - oldest)
					ms.JournalCapacity += int64(st.cfg.JournalCapacity)
				}
			} else {
				ms.BackupEntries += n
			}
			return true
		})
	}
	s.ops.Range(func(name string, o *opStats) bool {
		o.addTo(get(name))
		return true
	})
	s.local.mu.RLock()
	for name, caches := range s.local.near {
		ms := get(name)
		for _, c := range caches {
			if sc, ok := c.(interface{ stats() NearCacheStats }); ok {
				st := sc.stats()
				ms.Near.Hits += st.Hits
				ms.Near.Misses += st.Misses
				ms.Near.Invalidations += st.Invalidations
				ms.Near.Evictions += st.Evictions
				ms.Near.Entries += st.Entries
			}
		}
	}
	s.local.mu.RUnlock()
	out := make([]MapStats, 0, len(byName))
	for _, ms := range byName {
		out = append(out, *ms)
	}
	slices.SortFunc(out, func(a, b MapStats) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// opStatsFor returns map name's operation counters on this member.
func (s *service) opStatsFor(name string) *opStats {
	o, _ := s.ops.LoadOrCompute(name, newOpStats)
	return o
}

// getDone ends a read: its key buffer back to the pool, its latency
// recorded when it was sampled.
func (mp *Map[K, V]) getDone(kbuf *[]byte, start opStart) {
	putKeyBuffer(kbuf)
	mp.stats.end(0, start)
}

// timedWrite is write, counted and sampled.
func (mp *Map[K, V]) timedWrite(ctx context.Context, what string, code opCode, k K, v, old *V, ttl int64, proc string, arg []byte) (opResponse, error) {
	kind := kindOf(code)
	start := mp.stats.begin(kind)
	resp, err := mp.write0(ctx, what, code, k, v, old, ttl, proc, arg)
	mp.stats.end(kind, start)
	return resp, err
}

// countBatch counts a batch operation, when stats are on; call the
// returned function when it ends.
func (mp *Map[K, V]) countBatch(kind int) func() {
	if !mp.s.statsOn.Load() {
		return func() {}
	}
	start := mp.stats.begin(kind)
	return func() { mp.stats.end(kind, start) }
}

const routeStats = "grid.stats" // read a member's MapStats

func (s *service) handleStats(context.Context, *member.Request) ([]byte, error) {
	st := Stats(s.m)
	return wire.Marshal(&st)
}

// StatsOf returns the MapStats of member id (see Stats), asking it over
// the transport unless it is the member m.
func StatsOf(ctx context.Context, m member.Services, id string) ([]MapStats, error) {
	s := serviceOf(m)
	if id == s.m.ID() {
		return Stats(m), nil
	}
	b, err := s.m.Call(ctx, id, routeStats, nil)
	if err != nil {
		return nil, err
	}
	var out []MapStats
	err = wire.Unmarshal(b, &out)
	return out, err
}
