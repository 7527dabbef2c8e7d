package nemesis

import (
	"slices"
	"strings"
)

// cutOff is a partition fault that cut off every copy of some partitions:
// fewer backups than the members in its minority.
type cutOff struct {
	fault int // the fault's number (1 for the first), as its window's name starts
	parts map[int]bool
}

// noteAllCut records, for the fault about to be injected, the partitions
// whose owner and backups all sit on the minority hosts, as the client's
// table places them now.
func (r *Run) noteAllCut(minority []int) {
	t := r.C.Client.Partitions()
	if t == nil {
		return
	}
	var ids []string
	for _, h := range minority {
		if p := r.C.procs[h]; p != nil && !r.C.down[h] {
			ids = append(ids, p.ID)
		}
	}
	cut := cutOff{fault: r.faults, parts: map[int]bool{}}
	for p := range t.Count() {
		reps := t.Replicas(p)
		if len(reps) > 0 && !slices.ContainsFunc(reps, func(id string) bool { return !slices.Contains(ids, id) }) {
			cut.parts[p] = true
		}
	}
	if len(cut.parts) > 0 {
		r.allCut = append(r.allCut, cut)
		r.T.Logf("nemesis: fault %d cuts off every copy of %d partitions (backups %d): counters there are reported as a known limit", r.faults, len(cut.parts), r.C.Backups)
	}
}

// knownLimit reports whether a counter anomaly is the documented limit:
// its counter's partition had every copy cut off by a partition fault, and
// the checks first found it wrong after that fault.
func (r *Run) knownLimit(a Anomaly, faults []Window) bool {
	if a.Check != "counter" {
		return false
	}
	p, err := r.W.counters.Partition(a.Key)
	if err != nil {
		return false
	}
	for _, c := range r.allCut {
		if !c.parts[p] || c.fault < 1 || c.fault > len(faults) {
			continue
		}
		if strings.Contains(a.Detail, "after "+faults[c.fault-1].Name) {
			return true
		}
	}
	return false
}
