package snapshot

import "fmt"

// Mode is a job's processing guarantee, which decides whether barriers are
// aligned.
type Mode uint8

const (
	// ExactlyOnce aligns barriers: an input that delivered barrier N is not
	// read again until every live input delivered N, so the state saved for
	// N reflects exactly the items before barrier N on every input. The cost
	// is latency: a fast input waits for the slowest one.
	ExactlyOnce Mode = iota
	// AtLeastOnce does not block inputs: items after barrier N on a fast
	// input are processed before N completes, so they are in the state saved
	// for N and are processed again after a restore from N.
	AtLeastOnce
)

func (m Mode) String() string {
	switch m {
	case ExactlyOnce:
		return "exactly-once"
	case AtLeastOnce:
		return "at-least-once"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Decision is what the caller does after a barrier or an input's end.
type Decision struct {
	// Complete: every live input has delivered barrier ID. Save the
	// processor's state for snapshot ID, then forward barrier ID on every
	// output, once.
	Complete bool
	// ID is the completed snapshot when Complete is set.
	ID uint64
	// Abandoned is a snapshot that was pending here and will never complete,
	// because a later barrier overtook it (see Aligner); 0 when none. The
	// caller may log it; there is nothing to undo, since no state was saved.
	Abandoned uint64
}

// Aligner aligns snapshot barriers for one consumer with several inputs. It
// is a pure state machine, not safe for concurrent use: the processor's
// goroutine feeds it what it reads and obeys what it decides.
//
// An input must be one FIFO stream from one producer (one queue of an
// edge, not the edge as a whole), because barriers are only ordered
// per producer; an input that finished counts as having delivered every
// later barrier.
//
// # Overlapping barriers
//
// The coordinator never starts snapshot N+1 before N is over, and N cannot
// complete without this consumer's state. So a barrier N+1 arriving while N
// is pending here proves that the coordinator gave N up (it timed out on a
// slow remote input, or a source never got the order to inject it). The
// Aligner therefore neither rejects N+1 (that would turn an aborted snapshot
// into a failed job) nor queues it behind N (that would save state for a
// snapshot nobody will commit, and grow without bound behind a slow input):
// N+1 supersedes N, which is reported as Abandoned, and the late barriers N
// still to come on the slower inputs are ignored. This is how Flink's
// barrier tracker handles subsumed checkpoints.
//
// In at-least-once mode it happens when a fast input delivers N and then
// N+1 before a slow input delivered N. In exactly-once mode a blocked input
// cannot deliver N+1 (doing so is an ErrBarrier: the caller read a blocked
// input), but an input whose source skipped N can: N+1 then unblocks the
// inputs that delivered N, whose items before N+1 belong to N+1's state.
type Aligner struct {
	mode      Mode
	last      []uint64 // highest barrier each input delivered
	done      []bool   // inputs that finished
	arrived   []bool   // inputs that delivered the pending barrier
	live      int      // inputs not done
	count     int      // live inputs that delivered the pending barrier
	pending   uint64   // the barrier being aligned; 0: none
	completed uint64   // the last barrier that completed here
}

// NewAligner returns an Aligner for a consumer with the given number of
// inputs. It panics if inputs is negative.
func NewAligner(inputs int, mode Mode) *Aligner {
	if inputs < 0 {
		panic(fmt.Sprintf("snapshot: NewAligner with %d inputs", inputs))
	}
	return &Aligner{
		mode:    mode,
		last:    make([]uint64, inputs),
		done:    make([]bool, inputs),
		arrived: make([]bool, inputs),
		live:    inputs,
	}
}

// Mode is the Aligner's mode.
func (a *Aligner) Mode() Mode { return a.mode }

// Barrier records barrier id arriving on input. When the decision is
// Complete, every live input has delivered id: save state, then forward the
// barrier once. A barrier of a snapshot that was abandoned (see Aligner) is
// ignored: the decision is empty.
//
// The errors, all ErrBarrier, are protocol violations: an input out of
// range, id 0, an id not above the last one the input delivered (or already
// completed), a barrier on an input that is Done, and, in exactly-once
// mode, a barrier on a Blocked input.
func (a *Aligner) Barrier(input int, id uint64) (Decision, error) {
	switch {
	case input < 0 || input >= len(a.last):
		return Decision{}, fmt.Errorf("%w: barrier %d on input %d of %d", ErrBarrier, id, input, len(a.last))
	case id == 0:
		return Decision{}, fmt.Errorf("%w: barrier 0 on input %d: snapshot ids start at 1", ErrBarrier, input)
	case a.done[input]:
		return Decision{}, fmt.Errorf("%w: barrier %d on input %d, which is done", ErrBarrier, id, input)
	case id <= a.completed:
		return Decision{}, fmt.Errorf("%w: barrier %d on input %d: snapshot %d already completed", ErrBarrier, id, input, a.completed)
	case id <= a.last[input]:
		return Decision{}, fmt.Errorf("%w: barrier %d on input %d after barrier %d: barriers must increase", ErrBarrier, id, input, a.last[input])
	case a.mode == ExactlyOnce && a.Blocked(input):
		return Decision{}, fmt.Errorf("%w: barrier %d on input %d, which is blocked until every input delivers barrier %d", ErrBarrier, id, input, a.pending)
	}
	a.last[input] = id
	var d Decision
	switch {
	case a.pending == 0:
		a.pending = id
	case id < a.pending:
		return Decision{}, nil // a barrier of a snapshot already overtaken
	case id > a.pending:
		d.Abandoned = a.pending
		a.pending = id
		clear(a.arrived)
		a.count = 0
	}
	a.arrived[input] = true
	a.count++
	return a.completeIfAligned(d), nil
}

// Done records that input finished: it delivers no more items or barriers,
// and counts as having delivered every later barrier, so it may complete
// the pending snapshot. A second Done on the same input does nothing. It
// panics if input is out of range.
func (a *Aligner) Done(input int) Decision {
	a.check(input)
	if a.done[input] {
		return Decision{}
	}
	a.done[input] = true
	a.live--
	if a.pending == 0 {
		return Decision{}
	}
	if a.arrived[input] {
		a.arrived[input] = false
		a.count--
	}
	return a.completeIfAligned(Decision{})
}

func (a *Aligner) completeIfAligned(d Decision) Decision {
	if a.count < a.live {
		return d
	}
	d.Complete, d.ID = true, a.pending
	a.completed = a.pending
	a.pending, a.count = 0, 0
	clear(a.arrived)
	return d
}

// Blocked reports whether the caller must not read input now: in
// exactly-once mode, from the moment it delivers the pending barrier until
// the snapshot completes here. Never true in at-least-once mode. It panics
// if input is out of range.
func (a *Aligner) Blocked(input int) bool {
	a.check(input)
	return a.mode == ExactlyOnce && a.pending != 0 && a.arrived[input]
}

// Pending returns the snapshot being aligned: some inputs delivered its
// barrier, not every live one yet.
func (a *Aligner) Pending() (id uint64, ok bool) { return a.pending, a.pending != 0 }

// Completed is the last snapshot completed here (0: none).
func (a *Aligner) Completed() uint64 { return a.completed }

func (a *Aligner) check(input int) {
	if input < 0 || input >= len(a.last) {
		panic(fmt.Sprintf("snapshot: input %d out of range [0,%d)", input, len(a.last)))
	}
}
