package dag

import (
	"sync/atomic"
)

// queue is a bounded single-producer single-consumer ring of queue
// elements: item batches (a typed slice held in an any) and control items
// (watermarks, barriers, the end of a stream). One producer tasklet pushes,
// one consumer tasklet pops; neither takes a lock or a channel operation.
// Each element is a whole batch, so the per-item cost is nothing.
type queue struct {
	buf  []any
	mask uint64
	// head is the next slot to pop (written by the consumer), tail the next
	// to push (written by the producer).
	head atomic.Uint64
	_    [56]byte // keep head and tail on different cache lines
	tail atomic.Uint64
	_    [56]byte

	items atomic.Int64 // items (not elements) queued, for metrics and backpressure tests
	// limit is the items the queue may hold before an offer of more data
	// fails (0: only the ring bounds it); the consumer sets it from its
	// throughput (see debloat.go). Control items are not held back.
	limit atomic.Int64

	consumer waker // woken after a push
	producer waker // woken after a pop that made room
}

// waker is the end of a queue that parks when there is nothing to do.
type waker interface{ wake() }

func newQueue(capacity int) *queue {
	n := 1
	for n < capacity {
		n <<= 1
	}
	return &queue{buf: make([]any, n), mask: uint64(n - 1)}
}

// offer pushes e unless the queue is full. Only the producer calls it.
func (q *queue) offer(e any, items int) bool {
	t := q.tail.Load()
	if t-q.head.Load() == uint64(len(q.buf)) || items > 0 && q.overLimit() {
		return false
	}
	q.buf[t&q.mask] = e
	q.items.Add(int64(items))
	q.tail.Store(t + 1)
	if q.consumer != nil {
		q.consumer.wake()
	}
	return true
}

// peek returns the next element without removing it. Only the consumer
// calls it.
func (q *queue) peek() (any, bool) {
	h := q.head.Load()
	if h == q.tail.Load() {
		return nil, false
	}
	return q.buf[h&q.mask], true
}

// pop removes the element peek returned; items is its item count.
func (q *queue) pop(items int) {
	h := q.head.Load()
	q.buf[h&q.mask] = nil
	q.items.Add(-int64(items))
	q.head.Store(h + 1)
	if q.producer != nil {
		q.producer.wake()
	}
}

// full reports whether an offer of data would fail now.
func (q *queue) full() bool {
	return q.tail.Load()-q.head.Load() == uint64(len(q.buf)) || q.overLimit()
}

// overLimit reports whether the queue holds its limit of items.
func (q *queue) overLimit() bool {
	lim := q.limit.Load()
	return lim > 0 && q.items.Load() >= lim
}

// empty reports whether there is nothing to pop now.
func (q *queue) empty() bool { return q.head.Load() == q.tail.Load() }

// len is the number of elements queued.
func (q *queue) len() int { return int(q.tail.Load() - q.head.Load()) }
