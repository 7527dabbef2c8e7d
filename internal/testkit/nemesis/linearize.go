package nemesis

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// A register per key, the model porcupine checks each key's operations
// against.

type regInput struct {
	Kind  Kind
	Value int64 // put
}

type regOutput struct {
	Found   bool
	Value   int64
	Unknown bool // a write whose outcome is unknown
}

type regState struct {
	Present bool
	Value   int64
}

var registerModel = porcupine.Model{
	Init: func() any { return regState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(regState), input.(regInput), output.(regOutput)
		switch in.Kind {
		case Put:
			return true, regState{Present: true, Value: in.Value}
		case Delete:
			return true, regState{}
		default: // Read
			return out.Found == s.Present && (!s.Present || out.Value == s.Value), s
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.Kind == Put:
			return fmt.Sprintf("put %d", in.Value)
		case in.Kind == Delete:
			return "delete"
		case out.Found:
			return fmt.Sprintf("read -> %d", out.Value)
		default:
			return "read -> absent"
		}
	},
	DescribeState: func(state any) string {
		if s := state.(regState); s.Present {
			return fmt.Sprint(s.Value)
		}
		return "absent"
	},
}

// Linearizability is what porcupine found for the register keys.
type Linearizability struct {
	Keys int // keys checked
	// Illegal lists keys whose history is not linearizable, split by
	// whether any of its operations overlaps a fault window (invoked before
	// the cluster had settled after a fault).
	IllegalCalm, IllegalFaulted []string
	TimedOut                    []string // porcupine gave up on these
	// Visualization is an HTML file showing the first illegal key's
	// history ("" if none).
	Visualization string
}

// CheckLinearizable checks each register key's operations (puts, deletes,
// reads; failed reads left out) against a register with porcupine. A write
// of unknown outcome may take effect at any time after its invocation, so
// its return is placed after every other operation. dir receives the
// visualization of the first illegal key.
func CheckLinearizable(ops []Op, faults []Window, dir string) Linearizability {
	byKey := map[string][]Op{}
	for _, op := range ops {
		if op.Kind == Add || (op.Kind == Read && op.Outcome != OK) || op.Client == CheckClient || op.Client == FinalClient {
			continue // the final and check reads are CheckRegisters' part
		}
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	clients := map[string]int{}
	var res Linearizability
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		kops := byKey[key]
		if !slices.ContainsFunc(kops, func(o Op) bool { return o.Kind != Read }) {
			continue
		}
		res.Keys++
		first, last := time.Duration(math.MaxInt64), time.Duration(0)
		hist := make([]porcupine.Operation, 0, len(kops))
		for _, o := range kops {
			id, ok := clients[o.Client]
			if !ok {
				id = len(clients)
				clients[o.Client] = id
			}
			end := int64(o.End)
			out := regOutput{Found: o.Found, Value: o.Value}
			if o.Kind != Read && o.Outcome != OK {
				end, out.Unknown = math.MaxInt64, true
			}
			hist = append(hist, porcupine.Operation{ClientId: id, Input: regInput{Kind: o.Kind, Value: o.Value},
				Call: int64(o.Start), Output: out, Return: end})
			first, last = min(first, o.Start), max(last, o.End)
		}
		faulted := overlapsFault(first, last, faults)
		result, info := porcupine.CheckOperationsVerbose(registerModel, hist, 10*time.Second)
		switch result {
		case porcupine.Illegal:
			if faulted {
				res.IllegalFaulted = append(res.IllegalFaulted, key)
			} else {
				res.IllegalCalm = append(res.IllegalCalm, key)
			}
			if res.Visualization == "" && dir != "" {
				path := filepath.Join(dir, "linearizability-"+key+".html")
				if porcupine.VisualizePath(registerModel, info, path) == nil {
					res.Visualization = path
				}
			}
		case porcupine.Unknown:
			res.TimedOut = append(res.TimedOut, key)
		}
	}
	return res
}

// overlapsFault tells whether [from, to] meets a fault window, from its
// start until the cluster had settled after it.
func overlapsFault(from, to time.Duration, faults []Window) bool {
	for _, f := range faults {
		calm := f.Calm
		if calm == 0 {
			calm = math.MaxInt64
		}
		if from <= calm && to >= f.Start {
			return true
		}
	}
	return false
}
