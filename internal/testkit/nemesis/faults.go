package nemesis

import (
	"fmt"
	"slices"
	"time"
)

// The faults of a nemesis run. Each hold is longer than failure detection
// with the members' --local timings (probes every 200 ms, suspicion of a
// few seconds at most), so that each fault is noticed and acted on.

// PauseFault stops a member with SIGSTOP for hold, then SIGCONT: the
// others find it dead and take over its partitions, and it comes back
// holding copies from before. pick chooses the host.
func PauseFault(hold time.Duration, pick func(r *Run) int) Fault {
	return Fault{Kind: "pause", Hold: hold, Inject: func(r *Run) (string, func() error, error) {
		h := pick(r)
		r.C.Pause(h)
		return Name(h), func() error { r.C.Resume(h); return nil }, nil
	}}
}

// KillFault kills a member with SIGKILL and restarts it, under the same
// name and addresses, once the cluster has dropped it (hold is then how
// long the restarted member is given before the fault counts as healed:
// the kill itself is healed by the restart).
func KillFault(pick func(r *Run) int) Fault {
	return Fault{Kind: "kill", Inject: func(r *Run) (string, func() error, error) {
		h := pick(r)
		r.C.Kill(h)
		return Name(h), func() error { return r.C.Restart(h) }, nil
	}}
}

// MinorityFault cuts the network into a minority of two hosts (the
// helper's host, where the minority client runs, and the coordinator's,
// or another if the helper's host coordinates) and a majority with the
// rest and the test's client.
func MinorityFault(hold time.Duration) Fault {
	return Fault{Kind: "partition", Hold: hold, Inject: func(r *Run) (string, func() error, error) {
		minority := []int{r.helperH}
		if c := r.C.Coordinator(); c >= 0 && c != r.helperH {
			minority = append(minority, c)
		} else {
			minority = append(minority, r.other(minority))
		}
		majority := []int{-1}
		for h := range r.C.Net.Hosts {
			if !slices.Contains(minority, h) {
				majority = append(majority, h)
			}
		}
		r.noteAllCut(minority)
		if err := r.C.Net.Split(minority, majority); err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("%s | %s", hostNames(minority), hostNames(majority)), r.C.Net.Heal, nil
	}}
}

// BridgeFault cuts the hosts into two pairs that cannot reach each other,
// and a fifth, the bridge, that reaches both: Jepsen's bridge. Every side
// sees three data members, a quorum. The test's client is with the first
// pair.
func BridgeFault(hold time.Duration) Fault {
	return Fault{Kind: "bridge", Hold: hold, Inject: func(r *Run) (string, func() error, error) {
		order := r.Rand.Perm(len(r.C.Net.Hosts))
		a, bridge, b := append([]int{-1}, order[0:2]...), order[2], order[3:5]
		if err := r.C.Net.Split(a, b); err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("%s | %s bridged by %s", hostNames(a), hostNames(b), Name(bridge)), r.C.Net.Heal, nil
	}}
}

// DegradeFault delays and drops packets on every host (delay only with
// netem in the kernel; see Net.Degrade).
func DegradeFault(hold time.Duration, d Degradation) Fault {
	return Fault{Kind: "degrade", Hold: hold, Inject: func(r *Run) (string, func() error, error) {
		if err := r.C.Net.Degrade(d); err != nil {
			return "", nil, err
		}
		desc := d.String()
		if !r.C.Net.Netem {
			desc = fmt.Sprintf("loss %d%% (no netem in this kernel: no delay)", d.LossPercent)
		}
		return desc, r.C.Net.Heal, nil
	}}
}

// Coordinator picks the coordinating host (a random one if the client
// coordinates).
func Coordinator(r *Run) int {
	if c := r.C.Coordinator(); c >= 0 {
		return c
	}
	return r.Rand.IntN(len(r.C.Net.Hosts))
}

// NotCoordinator picks a random host that does not coordinate and is not
// the helper's.
func NotCoordinator(r *Run) int {
	return r.other([]int{r.C.Coordinator(), r.helperH})
}

// AnyHost picks a random host.
func AnyHost(r *Run) int { return r.Rand.IntN(len(r.C.Net.Hosts)) }

// other picks a random host not in not.
func (r *Run) other(not []int) int {
	var hs []int
	for h := range r.C.Net.Hosts {
		if !slices.Contains(not, h) {
			hs = append(hs, h)
		}
	}
	return hs[r.Rand.IntN(len(hs))]
}

func hostNames(hs []int) string {
	s := "{"
	for i, h := range hs {
		if i > 0 {
			s += ","
		}
		if h < 0 {
			s += "client"
		} else {
			s += Name(h)
		}
	}
	return s + "}"
}
