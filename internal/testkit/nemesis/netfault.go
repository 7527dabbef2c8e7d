package nemesis

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Network faults of a Net. Each host's namespace gets one nftables table,
// "inet weirnem", rebuilt whole (atomically, in one nft transaction) from
// what the test asked for: the addresses the host is cut from, and a
// packet loss. Delay is tc netem on the host's eth0. The test's own
// namespace is never touched: a host cut from the client's address drops
// the client's packets itself, in both directions.

// Cut makes every host in a unable to exchange packets with every address
// in b, and every host in b with every address in a: a and b hold host
// indexes, or -1 for the client (the bridge's address). Cuts add up until
// Heal.
func (nt *Net) Cut(a, b []int) error {
	for _, x := range a {
		for _, y := range b {
			nt.cut(x, y)
			nt.cut(y, x)
		}
	}
	return nt.apply()
}

// Split cuts the network into sides: every host (and the client, -1)
// reaches only those on its side. A host on no side keeps every link: with
// two sides, that is Jepsen's bridge.
func (nt *Net) Split(sides ...[]int) error {
	for i, a := range sides {
		for _, b := range sides[i+1:] {
			for _, x := range a {
				for _, y := range b {
					nt.cut(x, y)
					nt.cut(y, x)
				}
			}
		}
	}
	return nt.apply()
}

func (nt *Net) cut(from, to int) {
	if from < 0 {
		return // the client's side is enforced by the hosts
	}
	if nt.rules == nil {
		nt.rules = make([]hostRules, len(nt.Hosts))
	}
	addr := nt.ClientIP
	if to >= 0 {
		addr = nt.Hosts[to].IP
	}
	if r := &nt.rules[from]; !slices.Contains(r.cut, addr) {
		r.cut = append(r.cut, addr)
	}
}

// Degradation is a bad network: each host delays the packets it sends by
// Delay ± Jitter and loses LossPercent of them.
type Degradation struct {
	Delay, Jitter time.Duration
	LossPercent   int
}

func (d Degradation) String() string {
	return fmt.Sprintf("delay %v±%v, loss %d%%", d.Delay, d.Jitter, d.LossPercent)
}

// Degrade applies d to the given hosts (every host if none is given). With
// netem in the kernel it is one netem queue per host; without it the loss
// is an nftables rule and there is no delay (see Net.Netem).
func (nt *Net) Degrade(d Degradation, hosts ...int) error {
	if len(hosts) == 0 {
		for i := range nt.Hosts {
			hosts = append(hosts, i)
		}
	}
	for _, h := range hosts {
		if nt.Netem {
			args := []string{"tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
				"delay", ms(d.Delay), ms(d.Jitter), "loss", fmt.Sprintf("%d%%", d.LossPercent)}
			if err := nt.InHost(h, args...); err != nil {
				return err
			}
			nt.netemOn = append(nt.netemOn, h)
			continue
		}
		if nt.rules == nil {
			nt.rules = make([]hostRules, len(nt.Hosts))
		}
		nt.rules[h].loss = d.LossPercent
	}
	return nt.apply()
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// Heal removes every cut, loss and delay.
func (nt *Net) Heal() error {
	nt.rules = nil
	var errs []string
	for _, h := range nt.netemOn {
		if err := nt.InHost(h, "tc", "qdisc", "del", "dev", "eth0", "root"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	nt.netemOn = nil
	if err := nt.apply(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("heal: %s", strings.Join(errs, "; "))
	}
	return nil
}

// hostRules is what a host's nftables table holds.
type hostRules struct {
	cut  []string // addresses the host neither sends to nor receives from
	loss int      // percent of received packets dropped
}

// apply rebuilds every host's table from nt.rules.
func (nt *Net) apply() error {
	for i := range nt.Hosts {
		var r hostRules
		if nt.rules != nil {
			r = nt.rules[i]
		}
		// Declaring the table first makes the delete succeed on a host
		// that has none yet; the whole script is one transaction.
		script := "table inet weirnem {}\ndelete table inet weirnem\n"
		if len(r.cut) > 0 || r.loss > 0 {
			var in, out []string
			if len(r.cut) > 0 {
				set := strings.Join(r.cut, ", ")
				in = append(in, fmt.Sprintf("ip saddr { %s } drop", set))
				out = append(out, fmt.Sprintf("ip daddr { %s } drop", set))
			}
			if r.loss > 0 {
				in = append(in, fmt.Sprintf("numgen random mod 100 < %d drop", r.loss))
			}
			script += "table inet weirnem {\n" +
				"  chain input { type filter hook input priority 0; policy accept;\n    " + strings.Join(in, "\n    ") + "\n  }\n" +
				"  chain output { type filter hook output priority 0; policy accept;\n    " + strings.Join(out, "\n    ") + "\n  }\n}\n"
		}
		cmd := exec.Command("ip", "netns", "exec", nt.Hosts[i].NS, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %v: %s\n%s", nt.Hosts[i].NS, err, out, script)
		}
	}
	return nil
}
