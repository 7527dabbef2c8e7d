package grid

import (
	"fmt"
	"time"
)

// reqID identifies a non-idempotent request (put-if-absent, compare-and-set,
// entry processor) across retries: the calling member's ID and a counter.
type reqID struct {
	Client string `msgpack:"c"`
	Seq    uint64 `msgpack:"s"`
}

func (r reqID) valid() bool { return r.Client != "" }

func (r reqID) String() string { return fmt.Sprintf("%s/%d", r.Client, r.Seq) }

// outcome is the recorded result of a deduplicated request.
type outcome struct {
	Key     []byte `msgpack:"k"` // the request's key, to re-replicate its entry
	Map     string `msgpack:"m"`
	Applied bool   `msgpack:"a"`
	Found   bool   `msgpack:"f"`
	Value   []byte `msgpack:"v"`
	At      int64  `msgpack:"t"`
}

// dedupWindow is how long a request's outcome is remembered: far longer
// than any client keeps retrying one operation.
const dedupWindow = 5 * time.Minute

// dedupMax bounds the outcomes kept per partition.
const dedupMax = 8192

// dedup remembers outcomes of recent non-idempotent requests in a partition,
// on the owner and on its backups, so a retry after a failover is answered
// with the first attempt's outcome instead of being applied twice. Guarded
// by its part's mutex.
type dedup struct {
	byID  map[reqID]outcome
	order []reqID // insertion order, for eviction
	head  int
}

func newDedup() dedup { return dedup{byID: map[reqID]outcome{}} }

func (d *dedup) get(id reqID) (outcome, bool) {
	o, ok := d.byID[id]
	return o, ok
}

func (d *dedup) put(id reqID, o outcome) {
	if _, ok := d.byID[id]; ok {
		return
	}
	d.byID[id] = o
	d.order = append(d.order, id)
	cutoff := now() - int64(dedupWindow)
	for d.head < len(d.order) {
		oldest := d.order[d.head]
		if len(d.byID) <= dedupMax && d.byID[oldest].At > cutoff {
			break
		}
		delete(d.byID, oldest)
		d.order[d.head] = reqID{}
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append(d.order[:0:0], d.order[d.head:]...)
		d.head = 0
	}
}

// entries lists the remembered outcomes, for migration.
func (d *dedup) entries() []dedupEntry {
	out := make([]dedupEntry, 0, len(d.byID))
	for _, id := range d.order[d.head:] {
		if o, ok := d.byID[id]; ok {
			out = append(out, dedupEntry{ID: id, Outcome: o})
		}
	}
	return out
}

type dedupEntry struct {
	ID      reqID   `msgpack:"i"`
	Outcome outcome `msgpack:"o"`
}
