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
//
// An event the owner appends stays invisible to readers until its write's
// backups have answered. Otherwise a reader could consume an event that only
// the owner holds; if the owner then died, the promoted backup would give
// that sequence number to a different event (the client's retry, say) and
// the reader, already past it, would never see it.
type journal struct {
	mu sync.RWMutex // guards everything below
	// ring holds the events circularly once it is full: the oldest is at
	// ring[start]. It grows up to limit before wrapping.
	ring    []rawEvent
	start   int
	next    uint64              // sequence of the next event
	visible uint64              // first sequence readers may not see yet
	done    map[uint64]struct{} // sequences >= visible whose writes finished
	wake    chan struct{}       // closed when visible moves; nil when nobody waits
	limit   int
}

func newJournal(capacity int) *journal {
	return &journal{ring: make([]rawEvent, 0, min(capacity, 1024)), limit: capacity}
}

// oldestLocked is the first sequence still held.
func (j *journal) oldestLocked() uint64 {
	return j.next - uint64(len(j.ring))
}

// append adds an event the owner applied, with the next sequence. It stays
// invisible to readers until reveal.
func (j *journal) append(e rawEvent) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.addLocked(e, j.next)
}

// replicate adds an event a backup received, with the owner's sequence: the
// owner's numbering is final, so a sequence that does not follow ours drops
// what we held rather than renumber. A backup's events are replicated
// already: should it be promoted, everything it holds is readable.
func (j *journal) replicate(e rawEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.addLocked(e, e.Seq)
	j.revealAllLocked()
}

func (j *journal) addLocked(e rawEvent, seq uint64) uint64 {
	if seq != j.next && len(j.ring) > 0 {
		// Keep the ring consecutive.
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
	return seq
}

// reveal makes the owner's events seqs readable once their writes have
// finished, successfully or not. Events become visible in sequence order:
// a finished write waits for every earlier one.
func (j *journal) reveal(seqs []uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range seqs {
		if s >= j.visible {
			if j.done == nil {
				j.done = make(map[uint64]struct{})
			}
			j.done[s] = struct{}{}
		}
	}
	moved := false
	for {
		if _, ok := j.done[j.visible]; !ok {
			break
		}
		delete(j.done, j.visible)
		j.visible++
		moved = true
	}
	if moved {
		j.wakeLocked()
	}
}

func (j *journal) revealAllLocked() {
	if j.visible == j.next {
		return
	}
	j.visible = j.next
	clear(j.done)
	j.wakeLocked()
}

func (j *journal) wakeLocked() {
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
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
	if from >= j.visible {
		return nil, j.visible, nil
	}
	n := min(int(j.visible-from), max)
	out := make([]rawEvent, n)
	first := int(from - oldest)
	for i := range out {
		out[i] = j.ring[(j.start+first+i)%len(j.ring)]
	}
	return out, from + uint64(n), nil
}

// bounds returns the oldest held and the next readable sequence.
func (j *journal) bounds() (uint64, uint64) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.oldestLocked(), j.visible
}

// waitAfter returns a channel closed when a readable event with sequence >=
// seq exists (at once if one does).
func (j *journal) waitAfter(seq uint64) <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if seq < j.visible {
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
	j.revealAllLocked()
}

type journalData struct {
	Next   uint64     `msgpack:"n"`
	Events []rawEvent `msgpack:"e"`
}
