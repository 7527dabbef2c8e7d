package nemesis

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Net is a small network of Linux network namespaces made by one test: one
// namespace per host, each joined by a veth pair to a bridge in the test's
// own namespace. Addresses come from 10.77.X.0/24, X chosen free at
// creation; the bridge holds 10.77.X.1, so a process in the test's
// namespace (the test's client) reaches every host, and host i (from 0)
// has 10.77.X.(11+i) on its eth0.
//
// Names carry the test process's pid (wn<pid>-<i>, wn<pid>b): NewNet first
// removes the namespaces and bridges of test processes that are gone, and
// leaves those of live ones, so that two test runs on one machine do not
// meet.
type Net struct {
	t      testing.TB
	prefix string
	bridge string
	// ClientIP is the bridge's address, in the test's namespace.
	ClientIP string
	Hosts    []Host
	// Netem tells whether the kernel has the netem queueing discipline;
	// without it Degrade drops packets with nftables and cannot delay them.
	Netem bool

	rules   []hostRules // per host; nil: none
	netemOn []int       // hosts with a netem queue
}

// Host is one namespace of a Net.
type Host struct {
	Index int
	NS    string // namespace name
	IP    string
}

// lockPath serialises the choice of subnets and the removal of stale
// namespaces between test processes.
const lockPath = "/tmp/weir-nemesis.lock"

// NewNet makes n hosts and removes them when the test ends, failed or not.
// It skips the test, saying why, when not run as root or when ip or nft is
// missing (.ci/run installs iproute2 and nftables).
func NewNet(t testing.TB, n int) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("nemesis: network namespaces need root (.ci/run runs as root)")
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("nemesis: %s not found: install iproute2 and nftables (.ci/run does)", tool)
		}
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("nemesis: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("nemesis: lock %s: %v", lockPath, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	removeStale(t)
	subnet, err := freeSubnet()
	if err != nil {
		t.Fatalf("nemesis: %v", err)
	}
	pid := os.Getpid()
	nt := &Net{t: t, prefix: fmt.Sprintf("wn%d", pid), ClientIP: fmt.Sprintf("10.77.%d.1", subnet)}
	nt.bridge = nt.prefix + "b"
	t.Cleanup(nt.remove)
	// Frames between hosts are bridged; keep them out of the test
	// namespace's iptables (with br_netfilter, a FORWARD policy of DROP,
	// as Docker sets, would cut every host off).
	if run("ip", "link", "add", nt.bridge, "type", "bridge", "nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0") != nil {
		nt.must("ip", "link", "add", nt.bridge, "type", "bridge")
	}
	nt.must("ip", "addr", "add", nt.ClientIP+"/24", "dev", nt.bridge)
	nt.must("ip", "link", "set", nt.bridge, "up")
	for i := range n {
		h := Host{Index: i, NS: fmt.Sprintf("%s-%d", nt.prefix, i), IP: fmt.Sprintf("10.77.%d.%d", subnet, 11+i)}
		outer, inner := fmt.Sprintf("%sv%d", nt.prefix, i), fmt.Sprintf("%sp%d", nt.prefix, i)
		nt.must("ip", "netns", "add", h.NS)
		nt.Hosts = append(nt.Hosts, h)
		nt.must("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
		nt.must("ip", "link", "set", inner, "netns", h.NS)
		nt.must("ip", "link", "set", outer, "master", nt.bridge)
		nt.must("ip", "link", "set", outer, "up")
		nt.must("ip", "-n", h.NS, "link", "set", inner, "name", "eth0")
		nt.must("ip", "-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
		nt.must("ip", "-n", h.NS, "link", "set", "eth0", "up")
		nt.must("ip", "-n", h.NS, "link", "set", "lo", "up")
	}
	// netem is a kernel option (CONFIG_NET_SCH_NETEM) some kernels leave out.
	first := nt.Hosts[0].NS
	if run("ip", "netns", "exec", first, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms") == nil {
		nt.Netem = true
		nt.must("ip", "netns", "exec", first, "tc", "qdisc", "del", "dev", "eth0", "root")
	}
	return nt
}

// Wrap is the command prefix that runs a program in host h's namespace.
func (nt *Net) Wrap(h int) []string { return []string{"ip", "netns", "exec", nt.Hosts[h].NS} }

// InHost runs a command in host h's namespace.
func (nt *Net) InHost(h int, args ...string) error {
	return run(append(nt.Wrap(h), args...)...)
}

func (nt *Net) must(args ...string) {
	nt.t.Helper()
	if err := run(args...); err != nil {
		nt.t.Fatalf("nemesis: %v", err)
	}
}

// remove deletes the namespaces (which takes their veth pairs along) and
// the bridge.
func (nt *Net) remove() {
	for _, h := range nt.Hosts {
		if err := run("ip", "netns", "del", h.NS); err != nil {
			nt.t.Logf("nemesis: %v", err)
		}
	}
	if err := run("ip", "link", "del", nt.bridge); err != nil {
		nt.t.Logf("nemesis: %v", err)
	}
}

func run(args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func output(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v", strings.Join(args, " "), err)
	}
	return string(out), nil
}

var (
	staleNS     = regexp.MustCompile(`^wn(\d+)-\d+$`)
	staleBridge = regexp.MustCompile(`^\d+: (wn(\d+)b)[:@]`)
	usedSubnet  = regexp.MustCompile(`inet 10\.77\.(\d+)\.`)
)

// removeStale deletes the namespaces and bridges of test processes that
// are no longer running (a test killed before its cleanup).
func removeStale(t testing.TB) {
	if out, err := output("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			if m := staleNS.FindStringSubmatch(name); m != nil && !alive(m[1]) {
				t.Logf("nemesis: removing stale namespace %s", name)
				_ = run("ip", "netns", "del", name)
			}
		}
	}
	if out, err := output("ip", "-o", "link", "show", "type", "bridge"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if m := staleBridge.FindStringSubmatch(line); m != nil && !alive(m[2]) {
				t.Logf("nemesis: removing stale bridge %s", m[1])
				_ = run("ip", "link", "del", m[1])
			}
		}
	}
}

func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil {
		return false
	}
	return syscall.Kill(n, 0) == nil
}

// freeSubnet picks X of 10.77.X.0/24 that no address in the test's
// namespace uses.
func freeSubnet() (int, error) {
	out, err := output("ip", "-o", "-4", "addr", "show")
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, m := range usedSubnet.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		used[n] = true
	}
	for x := 1; x < 255; x++ {
		if !used[x] {
			return x, nil
		}
	}
	return 0, fmt.Errorf("no free subnet in 10.77.0.0/16")
}
