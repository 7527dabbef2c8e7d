package nemesis

import (
	"fmt"
	"sync"
	"time"
)

// Kind is what an operation did.
type Kind uint8

// Operation kinds.
const (
	Put    Kind = iota // write Value under Key
	Delete             // remove Key
	Read               // read Key: Value and Found are what was read
	Add                // add Value to the counter Key (an entry processor)
)

func (k Kind) String() string {
	return [...]string{"put", "delete", "read", "add"}[k]
}

// Outcome is how an operation ended, as its client saw it.
type Outcome uint8

// Outcomes. A write that returned an error is Unknown: the grid's client
// retries inside the call, so an error says the last attempt failed, not
// that none took effect. A read that failed is Failed: it changed nothing.
const (
	Pending Outcome = iota
	OK
	Failed
	Unknown
)

func (o Outcome) String() string {
	return [...]string{"pending", "ok", "failed", "unknown"}[o]
}

// Op is one operation of the history: its invocation and its completion.
type Op struct {
	Client  string
	Kind    Kind
	Key     string
	Value   int64 // put: the value written; add: the delta; read: the value read
	Found   bool  // read: the key was present
	Start   time.Duration
	End     time.Duration // when it completed, or when the client gave up
	Outcome Outcome
	Err     string
	// NoQuorum: the client's own view had fewer data members than the
	// quorum both when it invoked and when it completed the operation (the
	// minority client of a partition).
	NoQuorum bool
}

func (o Op) String() string {
	s := fmt.Sprintf("%s %s %s", o.Client, o.Kind, o.Key)
	switch o.Kind {
	case Put, Add:
		s += fmt.Sprintf(" %d", o.Value)
	case Read:
		if o.Outcome == OK {
			if o.Found {
				s += fmt.Sprintf(" -> %d", o.Value)
			} else {
				s += " -> absent"
			}
		}
	}
	s += fmt.Sprintf(" [%s–%s] %s", secs(o.Start), secs(o.End), o.Outcome)
	if o.Err != "" {
		s += ": " + o.Err
	}
	return s
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// Window is a fault: when it began, when it was healed, and when the
// cluster had settled again after it (every member back, a balanced
// table).
type Window struct {
	Name                string
	Start, Healed, Calm time.Duration
	Calmed              bool // false: the cluster never settled
}

func (w Window) String() string {
	return fmt.Sprintf("%s [%s–%s, settled %s]", w.Name, secs(w.Start), secs(w.Healed), secs(w.Calm))
}

// History records the operations of every client and the faults, with
// times relative to its start. It is safe for concurrent use.
type History struct {
	t0 time.Time

	mu     sync.Mutex
	ops    []Op
	faults []Window
}

// NewHistory starts a history now.
func NewHistory() *History { return &History{t0: time.Now()} }

// Now is the time since the history began.
func (h *History) Now() time.Duration { return time.Since(h.t0) }

// At converts a wall-clock time (from another process) to history time.
func (h *History) At(wall time.Time) time.Duration { return wall.Sub(h.t0) }

// Invoke records an operation's invocation and returns its index.
func (h *History) Invoke(op Op) int {
	op.Start = h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	return len(h.ops) - 1
}

// Complete records how operation i ended.
func (h *History) Complete(i int, out Outcome, err error, value int64, found bool) {
	now := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &h.ops[i]
	op.End, op.Outcome, op.Value, op.Found = now, out, value, found
	if op.Kind == Put || op.Kind == Add || op.Kind == Delete {
		op.Value = value
	}
	if err != nil {
		op.Err = err.Error()
	}
}

// Append records a complete operation (of a client in another process).
func (h *History) Append(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops returns a copy of the operations so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// FaultStart records that a fault began and returns its index.
func (h *History) FaultStart(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, Window{Name: name, Start: time.Since(h.t0)})
	return len(h.faults) - 1
}

// FaultHealed records that fault i was undone.
func (h *History) FaultHealed(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[i].Healed = time.Since(h.t0)
}

// FaultCalm records when the cluster had settled after fault i, or that it
// never did.
func (h *History) FaultCalm(i int, settled bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[i].Calm, h.faults[i].Calmed = time.Since(h.t0), settled
}

// Faults returns a copy of the fault windows so far.
func (h *History) Faults() []Window {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Window(nil), h.faults...)
}
