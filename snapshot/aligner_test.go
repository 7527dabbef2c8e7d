package snapshot_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/snapshot"
)

// step is one event fed to an Aligner and what must follow from it.
type step struct {
	done    bool   // Done(input) instead of Barrier(input, id)
	input   int    //
	id      uint64 //
	want    snapshot.Decision
	err     string // substring of the expected error ("" for none)
	blocked string // after the step, per input: 'B' blocked, '.' readable
	pending uint64 // after the step; 0: none
}

func barrier(input int, id uint64) step { return step{input: input, id: id} }
func done(input int) step               { return step{done: true, input: input} }

// then sets the expectations of a step.
func (s step) then(blocked string, pending uint64) step {
	s.blocked, s.pending = blocked, pending
	return s
}
func (s step) completes(id uint64) step { s.want.Complete, s.want.ID = true, id; return s }
func (s step) abandons(id uint64) step  { s.want.Abandoned = id; return s }
func (s step) fails(substr string) step { s.err = substr; return s }

func TestAligner(t *testing.T) {
	eo, alo := snapshot.ExactlyOnce, snapshot.AtLeastOnce
	tests := []struct {
		name   string
		inputs int
		mode   snapshot.Mode
		steps  []step
	}{
		{"exactly-once aligns three inputs, blocking each until the last", 3, eo, []step{
			barrier(1, 1).then(".B.", 1),
			barrier(0, 1).then("BB.", 1),
			barrier(2, 1).completes(1).then("...", 0),
			barrier(2, 2).then("..B", 2),
			barrier(0, 2).then("B.B", 2),
			barrier(1, 2).completes(2).then("...", 0),
		}},
		{"a single input completes at once", 1, eo, []step{
			barrier(0, 1).completes(1).then(".", 0),
			barrier(0, 2).completes(2).then(".", 0),
		}},
		{"a done input counts as having delivered the barrier", 3, eo, []step{
			done(2).then("...", 0),
			barrier(0, 1).then("B..", 1),
			barrier(1, 1).completes(1).then("...", 0),
		}},
		{"the last input finishing completes the pending snapshot", 3, eo, []step{
			barrier(0, 1).then("B..", 1),
			barrier(1, 1).then("BB.", 1),
			done(2).completes(1).then("...", 0),
		}},
		{"an input that delivered the barrier and then finished is not waited for", 2, eo, []step{
			barrier(0, 1).then("B.", 1),
			done(0).then("..", 1),
			barrier(1, 1).completes(1).then("..", 0),
		}},
		{"every input finishing with a barrier pending completes it", 2, eo, []step{
			barrier(0, 1).then("B.", 1),
			done(0).then("..", 1),
			done(1).completes(1).then("..", 0),
		}},
		{"Done twice is harmless", 2, eo, []step{
			done(0), done(0).then("..", 0),
			barrier(1, 1).completes(1).then("..", 0),
		}},
		{"at-least-once never blocks", 3, alo, []step{
			barrier(0, 1).then("...", 1),
			barrier(2, 1).then("...", 1),
			barrier(1, 1).completes(1).then("...", 0),
		}},
		{"at-least-once: a later barrier overtaking a pending one abandons it", 2, alo, []step{
			barrier(0, 1).then("..", 1),
			barrier(0, 2).abandons(1).then("..", 2),
			barrier(1, 1).then("..", 2), // the late barrier of the abandoned snapshot is ignored
			barrier(1, 2).completes(2).then("..", 0),
		}},
		{"exactly-once: an input whose source skipped a snapshot abandons it and unblocks the others", 3, eo, []step{
			barrier(0, 1).then("B..", 1),
			barrier(1, 2).abandons(1).then(".B.", 2),
			barrier(0, 2).then("BB.", 2),
			barrier(2, 1).then("BB.", 2), // late, ignored, does not block
			barrier(2, 2).completes(2).then("...", 0),
		}},
		{"misuse: a barrier not above the input's last one", 2, eo, []step{
			barrier(0, 1), barrier(1, 1).completes(1),
			barrier(0, 1).fails("snapshot 1 already completed").then("..", 0),
			barrier(0, 2).then("B.", 2),
		}},
		{"misuse: a repeated barrier on an unblocked input", 2, alo, []step{
			barrier(0, 3).then("..", 3),
			barrier(0, 3).fails("barriers must increase").then("..", 3),
		}},
		{"misuse: a barrier read from a blocked input", 2, eo, []step{
			barrier(0, 1).then("B.", 1),
			barrier(0, 2).fails("blocked").then("B.", 1),
		}},
		{"misuse: a barrier after the input finished", 2, eo, []step{
			done(1),
			barrier(1, 1).fails("done").then("..", 0),
		}},
		{"misuse: input out of range, id zero", 2, eo, []step{
			barrier(2, 1).fails("input 2 of 2"),
			barrier(-1, 1).fails("input -1 of 2"),
			barrier(0, 0).fails("ids start at 1").then("..", 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := snapshot.NewAligner(tt.inputs, tt.mode)
			for i, s := range tt.steps {
				var d snapshot.Decision
				var err error
				if s.done {
					d = a.Done(s.input)
				} else {
					d, err = a.Barrier(s.input, s.id)
				}
				if s.err != "" {
					require.ErrorIs(t, err, snapshot.ErrBarrier, "step %d", i)
					require.ErrorContains(t, err, s.err, "step %d", i)
				} else {
					require.NoError(t, err, "step %d", i)
				}
				require.Equal(t, s.want, d, "step %d", i)
				if s.blocked == "" {
					continue
				}
				got := make([]byte, tt.inputs)
				for in := range tt.inputs {
					got[in] = '.'
					if a.Blocked(in) {
						got[in] = 'B'
					}
				}
				require.Equal(t, s.blocked, string(got), "blocked inputs after step %d", i)
				id, ok := a.Pending()
				require.Equal(t, s.pending, id, "pending after step %d", i)
				require.Equal(t, s.pending != 0, ok)
			}
		})
	}
}

func TestAlignerPanicsOnInputOutOfRange(t *testing.T) {
	a := snapshot.NewAligner(2, snapshot.ExactlyOnce)
	require.Panics(t, func() { a.Done(2) })
	require.Panics(t, func() { a.Blocked(-1) })
	require.Panics(t, func() { snapshot.NewAligner(-1, snapshot.ExactlyOnce) })
}

func TestModeString(t *testing.T) {
	require.Equal(t, "exactly-once", snapshot.ExactlyOnce.String())
	require.Equal(t, "at-least-once", snapshot.AtLeastOnce.String())
	require.Equal(t, "Mode(7)", snapshot.Mode(7).String())
}
