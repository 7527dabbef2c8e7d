package dag

import "time"

// Bounding what waits ahead of a barrier.
//
// A snapshot's barrier travels in band, behind the items queued before it.
// The queues are bounded (batches per ring, bytes per stream window), but a
// bound in items or bytes is not a bound in time: when a consumer is slow
// (an expensive stage, a machine loaded by other processes), full queues
// hold seconds to minutes of its work, and the barrier waits for all of it.
// Snapshots then time out, and a suspend with them.
//
// Flink offers two answers. Unaligned checkpoints let the barrier overtake
// the queued items, and store those items in the snapshot, to be replayed
// into their queues on restore. Buffer debloating keeps the barrier in
// band, aligned, and instead sizes the in-flight buffers by the consumer's
// measured throughput, so that what is queued drains within a target time.
// Weir debloats: the snapshot keeps holding processor state only (no queue
// contents, whose items are typed values of any Go type, to encode, store
// and put back in order, per queue, on restore), exactly-once alignment
// keeps its meaning, and a barrier's wait per stage is bounded by the
// target time instead of the queue's size. A fast consumer is not
// affected: its throughput times the target exceeds the ring's capacity.
//
// Each consumer measures the items it takes per second of busy time (time
// in rounds that moved something: time parked waiting for input does not
// count, so a consumer starved by its producers is not mistaken for a slow
// one), and gives each of its input queues an item limit: its share of
// throughput × debloatTarget, and at least a batch. A producer's offer of
// data to a queue at its limit fails, as to a full ring; control items
// (barriers, watermarks) are never held back by the limit.

const (
	// debloatTarget is the time the items queued ahead of a consumer
	// should take it to process.
	debloatTarget = 200 * time.Millisecond
	// debloatWindow is the busy time over which throughput is measured.
	debloatWindow = 50 * time.Millisecond
)

// initialBatches is the limit of a consumer's input queue, in batches,
// until the consumer has measured its throughput: a slow consumer's queues
// would otherwise fill to the ring's capacity before it measured anything,
// and its first barriers wait behind all of it.
const initialBatches = 4

// newInputQueue makes a queue of edge e into a processor instance.
func newInputQueue(e *edge) *queue {
	q := newQueue(e.queueSize)
	q.limit.Store(int64(initialBatches * e.batchSize))
	return q
}

// debloater sizes a consumer's input queues by its throughput.
type debloater struct {
	busy  time.Duration // busy time in the current window
	items int64         // items consumed before the current window
	rate  float64       // items per second of busy time, smoothed
}

// busyFor adds a round's busy time; consumed is the consumer's item count
// so far. At the end of a window it returns the items the consumer's input
// queues may hold together, and true.
func (d *debloater) busyFor(dt time.Duration, consumed int64) (int64, bool) {
	d.busy += dt
	if d.busy < debloatWindow {
		return 0, false
	}
	r := float64(consumed-d.items) / d.busy.Seconds()
	d.items, d.busy = consumed, 0
	if d.rate == 0 {
		d.rate = r
	} else {
		d.rate = 0.7*d.rate + 0.3*r
	}
	return int64(d.rate * debloatTarget.Seconds()), true
}

// debloat gives the tasklet's input queues their item limits, once per
// measuring window.
func (t *tasklet) debloat(dt time.Duration) {
	total, ok := t.db.busyFor(dt, t.itemsIn.Load())
	if !ok {
		return
	}
	queues := 0
	for _, in := range t.ins {
		queues += len(in.queues)
	}
	if queues == 0 {
		return
	}
	for _, in := range t.ins {
		limit := max(total/int64(queues), int64(in.batchSize))
		for _, q := range in.queues {
			q.limit.Store(limit)
		}
	}
}
