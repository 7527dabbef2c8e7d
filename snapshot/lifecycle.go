package snapshot

import (
	"cmp"
	"fmt"
	"slices"
)

// Lifecycle is the job coordinator's view of a job's snapshots: which one is
// in progress, who acknowledged it, and the last one completed. It is a pure
// state machine (the coordinator does the I/O and feeds it the outcomes),
// not safe for concurrent use.
//
// One snapshot at a time: Begin, then an Ack from every participant, then
// Verify against the store, then Commit; or Abort at any point, which
// leaves the last completed snapshot standing.
//
// # Slots
//
// Snapshots alternate between two storage slots so that a failure while
// writing one never damages the last completed one. The slot is normally id
// % 2, but always the slot not holding the last completed snapshot: after
// an abort the ids move on while the last completed snapshot stays where
// it is, and id % 2 would then point at it. When Commit returns, the other
// slot (the previous snapshot's, or an aborted attempt's) is free: clear it
// (Store.ClearSlot) before the next snapshot writes there.
type Lifecycle struct {
	last        Completed
	started     uint64 // highest id started
	cur         *attempt
	abortedID   uint64
	abortReason error
}

// attempt is the snapshot in progress.
type attempt struct {
	id       uint64
	slot     int
	acks     map[ProcessorID]*ack // nil value: not acknowledged yet
	acked    int
	verified bool
}

type ack struct {
	chunks  []ChunkRef
	entries int64
}

// NewLifecycle returns the Lifecycle of a job whose last completed snapshot
// is last (zero ID: none yet), as the job record holds it after a
// coordinator change or a restart. Numbering continues after last.ID.
func NewLifecycle(last Completed) *Lifecycle {
	return &Lifecycle{last: last, started: last.ID}
}

// Begin starts the next snapshot among participants (every processor
// instance of the job, each of which must Ack) and returns its id and slot.
// It is refused with ErrInProgress while another snapshot is in progress,
// and with ErrBadAck for an empty or duplicated participant list.
func (l *Lifecycle) Begin(participants []ProcessorID) (id uint64, slot int, err error) {
	if l.cur != nil {
		return 0, 0, fmt.Errorf("%w: snapshot %d", ErrInProgress, l.cur.id)
	}
	if len(participants) == 0 {
		return 0, 0, fmt.Errorf("%w: no participants", ErrBadAck)
	}
	acks := make(map[ProcessorID]*ack, len(participants))
	for _, p := range participants {
		if _, dup := acks[p]; dup {
			return 0, 0, fmt.Errorf("%w: participant %s listed twice", ErrBadAck, p)
		}
		acks[p] = nil
	}
	id = l.started + 1
	slot = int(id % 2)
	if l.last.ID != 0 && l.last.Manifest.Map == "" && slot == l.last.Slot {
		slot = 1 - slot
	}
	l.started = id
	l.cur = &attempt{id: id, slot: slot, acks: acks}
	return id, slot, nil
}

// InProgress returns the snapshot in progress, if any.
func (l *Lifecycle) InProgress() (id uint64, slot int, ok bool) {
	if l.cur == nil {
		return 0, 0, false
	}
	return l.cur.id, l.cur.slot, true
}

// Ack records that processor from saved its state for snapshot id in
// chunks, entries entries in all. It reports whether every participant has
// now acknowledged. An ack for a snapshot not in progress (aborted, say) is
// ErrNotInProgress; a duplicate, one from a non-participant, or one listing
// a chunk of another snapshot, slot or processor is ErrBadAck. A refused
// ack changes nothing.
func (l *Lifecycle) Ack(id uint64, from ProcessorID, chunks []ChunkRef, entries int64) (allAcked bool, err error) {
	a, err := l.current(id)
	if err != nil {
		return false, err
	}
	prev, ok := a.acks[from]
	switch {
	case !ok:
		return false, fmt.Errorf("%w: snapshot %d: %s is not a participant", ErrBadAck, id, from)
	case prev != nil:
		return false, fmt.Errorf("%w: snapshot %d: %s acknowledged twice", ErrBadAck, id, from)
	case entries < 0:
		return false, fmt.Errorf("%w: snapshot %d: %s reports %d entries", ErrBadAck, id, from, entries)
	}
	for _, c := range chunks {
		if c.Snapshot != id || c.Slot != a.slot || c.Vertex != from.Vertex || c.Writer != from.Index {
			return false, fmt.Errorf("%w: snapshot %d slot %d: %s lists %s of slot %d", ErrBadAck, id, a.slot, from, c, c.Slot)
		}
	}
	a.acks[from] = &ack{chunks: slices.Clone(chunks), entries: entries}
	a.acked++
	return a.acked == len(a.acks), nil
}

// Missing lists the participants that have not acknowledged the snapshot in
// progress, for a coordinator deciding to give up on it.
func (l *Lifecycle) Missing() []ProcessorID {
	if l.cur == nil {
		return nil
	}
	var out []ProcessorID
	for _, p := range sortedParticipants(l.cur) {
		if l.cur.acks[p] == nil {
			out = append(out, p)
		}
	}
	return out
}

// Verify checks that snapshot id can be committed: every participant
// acknowledged, each acknowledgement's entry count equals the sum over its
// chunks, and stored (Store.Stored, in practice) finds every acknowledged
// chunk. A failure is ErrIncomplete (or stored's error) and leaves the
// snapshot in progress: Abort it, or Verify again after a transient error.
func (l *Lifecycle) Verify(id uint64, stored func([]ChunkRef) (found int, err error)) error {
	a, err := l.current(id)
	if err != nil {
		return err
	}
	a.verified = false
	if missing := len(a.acks) - a.acked; missing > 0 {
		return fmt.Errorf("%w: snapshot %d: %d of %d processors have not acknowledged (%v)", ErrIncomplete, id, missing, len(a.acks), head(l.Missing(), 3))
	}
	var all []ChunkRef
	for _, p := range sortedParticipants(a) {
		k := a.acks[p]
		var sum int64
		for _, c := range k.chunks {
			sum += c.Entries
		}
		if sum != k.entries {
			return fmt.Errorf("%w: snapshot %d: %s acknowledged %d entries, its chunks hold %d", ErrIncomplete, id, p, k.entries, sum)
		}
		all = append(all, k.chunks...)
	}
	found, err := stored(all)
	if err != nil {
		return fmt.Errorf("snapshot %d: verify chunks: %w", id, err)
	}
	if found != len(all) {
		return fmt.Errorf("%w: snapshot %d: %d of %d chunks not stored", ErrIncomplete, id, len(all)-found, len(all))
	}
	a.verified = true
	return nil
}

// Commit makes verified snapshot id the last completed one and returns it,
// manifest included, for the job record. From then on the other slot is
// free to clear and reuse.
func (l *Lifecycle) Commit(id uint64) (Completed, error) {
	a, err := l.current(id)
	if err != nil {
		return Completed{}, err
	}
	if !a.verified {
		return Completed{}, fmt.Errorf("%w: snapshot %d", ErrNotVerified, id)
	}
	var m Manifest
	for _, k := range a.acks {
		m.Entries += k.entries
		m.Chunks = append(m.Chunks, k.chunks...)
	}
	for _, c := range m.Chunks {
		m.Bytes += c.Bytes
	}
	slices.SortFunc(m.Chunks, compareRefs)
	l.last = Completed{ID: id, Slot: a.slot, Manifest: m}
	l.cur = nil
	return l.last, nil
}

// Abort gives up snapshot id because of reason. The last completed snapshot stands, and the next
// Begin takes a new id. Aborting a snapshot that is not in progress does
// nothing, so a timeout racing with a commit is harmless.
func (l *Lifecycle) Abort(id uint64, reason error) {
	if l.cur != nil && l.cur.id == id {
		l.cur = nil
		l.abortedID, l.abortReason = id, reason
	}
}

// LastAborted returns the last snapshot aborted and why, for job status.
func (l *Lifecycle) LastAborted() (id uint64, reason error) { return l.abortedID, l.abortReason }

// Last returns the last completed snapshot, if any.
func (l *Lifecycle) Last() (Completed, bool) { return l.last, l.last.ID != 0 }

func (l *Lifecycle) current(id uint64) (*attempt, error) {
	if l.cur == nil {
		return nil, fmt.Errorf("%w: snapshot %d (none is)", ErrNotInProgress, id)
	}
	if l.cur.id != id {
		return nil, fmt.Errorf("%w: snapshot %d (snapshot %d is)", ErrNotInProgress, id, l.cur.id)
	}
	return l.cur, nil
}

func sortedParticipants(a *attempt) []ProcessorID {
	ps := make([]ProcessorID, 0, len(a.acks))
	for p := range a.acks {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b ProcessorID) int {
		return cmp.Or(cmp.Compare(a.Vertex, b.Vertex), cmp.Compare(a.Index, b.Index))
	})
	return ps
}

func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }
