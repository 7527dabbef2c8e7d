package grid

import (
	"fmt"
	"sync"
)

// EventType says what happened to an entry.
type EventType uint8

// Event types, in journals and to listeners.
const (
	Added   EventType = 1
	Updated EventType = 2
	Removed EventType = 3
	Expired EventType = 4
	Evicted EventType = 5
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	case Expired:
		return "expired"
	case Evicted:
		return "evicted"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// rawEvent is a change in encoded form, as journals keep it and members send
// it to listeners.
type rawEvent struct {
	Seq   uint64    `msgpack:"s"`
	Type  EventType `msgpack:"y"`
	Key   []byte    `msgpack:"k"`
	Value []byte    `msgpack:"v,omitempty"` // new value (added, updated)
	Old   []byte    `msgpack:"o,omitempty"` // previous value (updated, removed, expired, evicted)
	Time  int64     `msgpack:"t"`           // unix ns
}

// journal is a bounded ring of one store's events with consecutive sequence
// numbers. The owner appends as it applies writes; backups append the same
// events with the same numbers, so a promoted backup continues the sequence.
type journal struct {
	mu sync.RWMutex // guards everything below
	// ring holds the events circularly once it is full: the oldest is at
	// ring[start]. It grows up to limit before wrapping.
	ring  []rawEvent
	start int
	next  uint64        // sequence of the next event
	wake  chan struct{} // closed on append; nil when nobody waits
	limit int
}

func newJournal(capacity int) *journal {
	return &journal{ring: make([]rawEvent, 0, min(capacity, 1024)), limit: capacity}
}

// oldestLocked is the first sequence still held.
func (j *journal) oldestLocked() uint64 {
	return j.next - uint64(len(j.ring))
}

// add appends e with the next sequence (seq 0) or with the given sequence
// (on backups and imports; a gap drops nothing but moves the sequence on).
func (j *journal) add(e rawEvent, seq uint64) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq == 0 || seq < j.next {
		seq = j.next
	}
	if seq > j.next && len(j.ring) > 0 {
		// A gap: keep the ring consecutive by dropping what came before.
		j.ring, j.start = j.ring[:0], 0
	}
	e.Seq = seq
	j.next = seq + 1
	if len(j.ring) < j.limit {
		j.ring = append(j.ring, e)
	} else {
		j.ring[j.start] = e
		j.start = (j.start + 1) % len(j.ring)
	}
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
	return seq
}

// read returns up to max events from sequence from, and the sequence to read
// next. Reading past the newest event returns nothing; reading before the
// oldest held fails with ErrStaleSequence.
func (j *journal) read(from uint64, max int) ([]rawEvent, uint64, error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	oldest := j.oldestLocked()
	if from < oldest {
		return nil, oldest, fmt.Errorf("%w: asked for %d, oldest held is %d", ErrStaleSequence, from, oldest)
	}
	if from >= j.next {
		return nil, j.next, nil
	}
	n := min(int(j.next-from), max)
	out := make([]rawEvent, n)
	first := int(from - oldest)
	for i := range out {
		out[i] = j.ring[(j.start+first+i)%len(j.ring)]
	}
	return out, from + uint64(n), nil
}

// bounds returns the oldest held and the next sequence.
func (j *journal) bounds() (uint64, uint64) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.oldestLocked(), j.next
}

// waitAfter returns a channel closed when an event with sequence >= seq
// exists (at once if one does).
func (j *journal) waitAfter(seq uint64) <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq < j.next {
		c := make(chan struct{})
		close(c)
		return c
	}
	if j.wake == nil {
		j.wake = make(chan struct{})
	}
	return j.wake
}

// snapshot copies the ring for migration.
func (j *journal) snapshot() journalData {
	j.mu.RLock()
	defer j.mu.RUnlock()
	events := make([]rawEvent, len(j.ring))
	for i := range events {
		events[i] = j.ring[(j.start+i)%len(j.ring)]
	}
	return journalData{Next: j.next, Events: events}
}

func (j *journal) restore(d journalData) {
	j.mu.Lock()
	defer j.mu.Unlock()
	events := d.Events
	if len(events) > j.limit {
		events = events[len(events)-j.limit:]
	}
	j.ring, j.start = append(j.ring[:0], events...), 0
	j.next = d.Next
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
}

type journalData struct {
	Next   uint64     `msgpack:"n"`
	Events []rawEvent `msgpack:"e"`
}
