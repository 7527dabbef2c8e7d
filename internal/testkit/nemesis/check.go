package nemesis

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Anomaly is a violation of a guarantee found in a history.
type Anomaly struct {
	Check  string        // which guarantee: lost-put, revived-delete, counter, minority-write, job, ...
	Key    string        // the key concerned, if any
	At     time.Duration // when the operation that was not kept completed
	Detail string
}

func (a Anomaly) String() string {
	s := a.Check
	if a.Key != "" {
		s += " " + a.Key
	}
	return s + ": " + a.Detail
}

// FinalClient names the reads made after the last fault, once the cluster
// has settled and the workload has stopped: what the cluster keeps.
const FinalClient = "final"

// CheckClient names the reads of every key made after each fault, once
// the cluster has settled: they tell after which fault something went
// missing.
const CheckClient = "check"

// CheckRegisters checks what the final reads of each register key found
// against the writes acknowledged to it. Each key has a single writer
// (operations in order), so its state after the writes is the effect of
// its last acknowledged write, or of a write whose outcome is unknown (it
// may take effect at any point, even late). Anything else is an
// acknowledged put lost, an acknowledged delete undone, or a value that
// was never written. Counter keys (those with add operations) are left to
// CheckCounters.
func CheckRegisters(ops []Op, faults []Window) []Anomaly {
	type keyOps struct{ writes, finals, checks []Op }
	byKey := map[string]*keyOps{}
	for _, op := range ops {
		if op.Kind == Add {
			continue
		}
		k := byKey[op.Key]
		if k == nil {
			k = &keyOps{}
			byKey[op.Key] = k
		}
		switch {
		case op.Kind == Read && op.Client == FinalClient && op.Outcome == OK:
			k.finals = append(k.finals, op)
		case op.Kind == Read && op.Client == CheckClient && op.Outcome == OK:
			k.checks = append(k.checks, op)
		case op.Kind == Put || op.Kind == Delete:
			k.writes = append(k.writes, op)
		}
	}
	var out []Anomaly
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		k := byKey[key]
		if len(k.writes) == 0 {
			continue
		}
		if len(k.finals) == 0 {
			out = append(out, Anomaly{Check: "unread", Key: key, Detail: "no final read succeeded"})
			continue
		}
		slices.SortFunc(k.writes, func(a, b Op) int { return cmp.Compare(a.Start, b.Start) })
		last := -1 // the last acknowledged write
		for i, w := range k.writes {
			if w.Outcome == OK {
				last = i
			}
		}
		allowed := func(found bool, v int64) bool {
			if last < 0 && !found {
				return true // nothing acknowledged: the key may never have been written
			}
			for i, w := range k.writes {
				if i != last && w.Outcome == OK {
					continue
				}
				if (w.Kind == Delete && !found) || (w.Kind == Put && found && w.Value == v) {
					return true
				}
			}
			return false
		}
		for _, f := range k.finals {
			if allowed(f.Found, f.Value) {
				continue
			}
			a := registerAnomaly(key, k.writes, last, f, faults)
			a.Detail += when(k.writes, k.checks, func(c Op) bool { return allowed(c.Found, c.Value) }, faults)
			out = append(out, a)
			break // one per key: the final reads agree or each says the same
		}
	}
	return out
}

// when says between which checks a key's state went wrong: the checks
// after its last write (ok tells a right one from a wrong one).
func when(writes, checks []Op, ok func(Op) bool, faults []Window) string {
	var done time.Duration
	for _, w := range writes {
		done = max(done, w.End)
	}
	var right *Op
	for _, c := range checks {
		if c.Start < done {
			continue
		}
		if !ok(c) {
			s := fmt.Sprintf("; first wrong at the check %s", Attribute(c.Start, faults))
			if right != nil {
				s += fmt.Sprintf(", still right at the check %s", Attribute(right.Start, faults))
			}
			return s
		}
		right = &c
	}
	if right != nil {
		return fmt.Sprintf("; still right at the last check %s", Attribute(right.Start, faults))
	}
	return ""
}

func registerAnomaly(key string, writes []Op, last int, final Op, faults []Window) Anomaly {
	l := writes[last]
	var from string // the write that produced what the final read found
	if final.Found {
		for _, w := range writes {
			if w.Kind == Put && w.Value == final.Value {
				from = fmt.Sprintf(", written by %s", w)
			}
		}
	}
	where := Attribute(l.End, faults)
	switch {
	case l.Kind == Delete && final.Found:
		return Anomaly{Check: "revived-delete", Key: key, At: l.End, Detail: fmt.Sprintf(
			"acknowledged %s (%s) undone: the final read found %d%s", l, where, final.Value, from)}
	case l.Kind == Put && !final.Found:
		return Anomaly{Check: "lost-put", Key: key, At: l.End, Detail: fmt.Sprintf(
			"acknowledged %s (%s) lost: the final read found the key absent", l, where)}
	case from != "":
		return Anomaly{Check: "lost-put", Key: key, At: l.End, Detail: fmt.Sprintf(
			"acknowledged %s (%s) undone: the final read found the older value %d%s", l, where, final.Value, from)}
	default:
		return Anomaly{Check: "phantom", Key: key, At: final.End, Detail: fmt.Sprintf(
			"the final read found %d, a value never written to the key (last acknowledged: %s)", final.Value, l)}
	}
}

// CheckCounters checks each counter's final value against the adds made
// to it: at least the sum of the acknowledged ones, at most that plus the
// sum of those whose outcome is unknown.
func CheckCounters(ops []Op, faults []Window) []Anomaly {
	type counter struct {
		ok, unknown, nOK, nUnknown int64
		final                      *Op
		adds, checks               []Op
	}
	byKey := map[string]*counter{}
	get := func(k string) *counter {
		if byKey[k] == nil {
			byKey[k] = &counter{}
		}
		return byKey[k]
	}
	for _, op := range ops {
		switch {
		case op.Kind == Add && op.Outcome == OK:
			c := get(op.Key)
			c.ok += op.Value
			c.nOK++
			c.adds = append(c.adds, op)
		case op.Kind == Add:
			c := get(op.Key)
			c.unknown += op.Value
			c.nUnknown++
			c.adds = append(c.adds, op)
		}
	}
	for _, op := range ops {
		c := byKey[op.Key]
		if c == nil || op.Kind != Read || op.Outcome != OK {
			continue
		}
		switch op.Client {
		case FinalClient:
			c.final = &op
		case CheckClient:
			c.checks = append(c.checks, op)
		}
	}
	var out []Anomaly
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		c := byKey[key]
		switch {
		case c.final == nil:
			out = append(out, Anomaly{Check: "unread", Key: key, Detail: "no final read of the counter succeeded"})
		case c.final.Value < c.ok:
			at, when := counterWhen(c.adds, c.checks, faults)
			out = append(out, Anomaly{Check: "counter", Key: key, At: at, Detail: fmt.Sprintf(
				"final value %d, but %d adds were acknowledged (sum %d; %d more of unknown outcome): %d acknowledged lost",
				c.final.Value, c.nOK, c.ok, c.nUnknown, c.ok-c.final.Value) + when})
		case c.final.Value > c.ok+c.unknown:
			at, when := counterWhen(c.adds, c.checks, faults)
			out = append(out, Anomaly{Check: "counter", Key: key, At: at, Detail: fmt.Sprintf(
				"final value %d exceeds the %d acknowledged adds (sum %d) plus the %d of unknown outcome (sum %d): some applied twice",
				c.final.Value, c.nOK, c.ok, c.nUnknown, c.unknown) + when})
		}
	}
	return out
}

// counterWhen finds the first check of a counter that read less than the
// adds acknowledged before it, or more than the adds invoked before it
// ended, and returns its time and a description (0 and "" if none).
func counterWhen(adds, checks []Op, faults []Window) (time.Duration, string) {
	for _, c := range checks {
		var acked, invoked int64
		for _, a := range adds {
			if a.Outcome == OK && a.End < c.Start {
				acked += a.Value
			}
			if a.Start < c.End {
				invoked += a.Value
			}
		}
		if c.Value < acked || c.Value > invoked {
			return c.Start, fmt.Sprintf("; first wrong at the check %s: read %d, %d acknowledged before it, %d invoked", Attribute(c.Start, faults), c.Value, acked, invoked)
		}
	}
	return 0, ""
}

// CheckMinority finds writes acknowledged to a client whose side had no
// quorum (see Op.NoQuorum): with MinClusterSize such a side must refuse
// them.
func CheckMinority(ops []Op, faults []Window) []Anomaly {
	var out []Anomaly
	for _, op := range ops {
		if op.NoQuorum && op.Outcome == OK && op.Kind != Read {
			out = append(out, Anomaly{Check: "minority-write", Key: op.Key, At: op.End, Detail: fmt.Sprintf(
				"%s acknowledged on a side without quorum (%s)", op, Attribute(op.End, faults))})
		}
	}
	return out
}

// Attribute says where t falls among the faults: during one (from its
// start until the cluster settled after it), or between two.
func Attribute(t time.Duration, faults []Window) string {
	var before *Window
	for i := range faults {
		f := &faults[i]
		end := f.Calm
		if end == 0 {
			end = 1<<63 - 1 // still going
		}
		if t >= f.Start && t <= end {
			return "during " + f.String()
		}
		if f.Start <= t {
			before = f
		}
	}
	if before != nil {
		return fmt.Sprintf("at %s, after %s", secs(t), before)
	}
	return fmt.Sprintf("at %s, before any fault", secs(t))
}

// Summary counts the operations invoked in each fault window (and between
// them), by kind and outcome, and the anomalies in each by their time: the
// completion of the acknowledged operation that was not kept, or, for a
// counter, the check that first found it wrong.
func Summary(ops []Op, faults []Window, anomalies []Anomaly) string {
	type tally map[string]int
	label := func(t time.Duration) string {
		name := "calm"
		for _, f := range faults {
			if t >= f.Start && (f.Calm == 0 || t <= f.Calm) {
				return f.Name
			}
		}
		return name
	}
	ops2 := map[string]tally{}
	var order []string
	seen := map[string]bool{}
	add := func(l string) tally {
		if !seen[l] {
			seen[l] = true
			order = append(order, l)
			ops2[l] = tally{}
		}
		return ops2[l]
	}
	add("calm")
	for _, f := range faults {
		add(f.Name)
	}
	for _, op := range ops {
		if op.Client == FinalClient {
			continue
		}
		add(label(op.Start))[op.Kind.String()+" "+op.Outcome.String()]++
	}
	anoms := map[string]map[string]int{}
	for _, a := range anomalies {
		l := label(a.At)
		if anoms[l] == nil {
			anoms[l] = map[string]int{}
		}
		anoms[l][a.Check]++
	}
	var b strings.Builder
	for _, l := range order {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(ops2[l])) {
			parts = append(parts, fmt.Sprintf("%s %d", k, ops2[l][k]))
		}
		var an []string
		for _, k := range slices.Sorted(maps.Keys(anoms[l])) {
			an = append(an, fmt.Sprintf("%s %d", k, anoms[l][k]))
		}
		if len(an) == 0 {
			an = []string{"none"}
		}
		fmt.Fprintf(&b, "  %-28s ops: %s; anomalies: %s\n", l, strings.Join(parts, ", "), strings.Join(an, ", "))
	}
	return b.String()
}
