package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/resp"
)

// reference is the redis-server measured against.
type reference struct {
	addr, name string
	pid        int
}

// result is one system's measurement of one command at one pipeline
// depth, over the rounds.
type result struct {
	requests float64 // done, over every round
	seconds  float64 // wall time of the rounds
	cpu      float64 // CPU seconds the server used meanwhile
	p50s     []float64
	p99      float64 // the worst round's
}

func (r *result) rps() float64   { return r.requests / r.seconds }
func (r *result) cores() float64 { return r.cpu / r.seconds }
func (r *result) p50() float64 {
	var sum float64
	for _, p := range r.p50s {
		sum += p
	}
	return sum / float64(len(r.p50s))
}

var commands = []string{"set", "get", "incr"}

// measure runs the commands at each pipeline depth against a cluster of n
// members serving RESP, and against redis-server, taking turns.
func measure(ctx context.Context, cfg config, ref reference, n int, near bool) ([]harness.Section, error) {
	c, err := harness.StartCluster(ctx, harness.ClusterConfig{Name: fmt.Sprintf("resp%d", n), Data: n, RESP: true, RESPNearCache: near, LANGossip: true, FullReplicas: n > 1})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	var addrs []string
	for _, m := range c.Data() {
		addrs = append(addrs, resp.Of(m).Addr())
	}
	type key struct {
		pipeline int
		command  string
	}
	weir, redis := map[key]*result{}, map[key]*result{}
	load := loadAverage()
	for round := range cfg.rounds {
		for _, p := range cfg.pipelines {
			for _, cmd := range commands {
				k := key{p, cmd}
				if weir[k] == nil {
					weir[k], redis[k] = &result{}, &result{}
				}
				turns := []func() error{
					func() error { return bench(ctx, cfg, addrs, p, cmd, selfCPU, weir[k]) },
					func() error { return bench(ctx, cfg, []string{ref.addr}, p, cmd, pidCPU(ref.pid), redis[k]) },
				}
				if round%2 == 1 {
					turns[0], turns[1] = turns[1], turns[0]
				}
				for _, turn := range turns {
					if err := turn(); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	title := "1. One member"
	switch {
	case near:
		title = fmt.Sprintf("3. %d members, one backup, clients spread over them, endpoints with a near cache", n)
	case n > 1:
		title = fmt.Sprintf("2. %d members, one backup, clients spread over them", n)
	}
	s := harness.Section{Title: fmt.Sprintf("%s: redis-benchmark -c %d -d %d, weir's RESP endpoint vs %s", title, cfg.clients, cfg.size, ref.name)}
	for _, p := range cfg.pipelines {
		for _, cmd := range commands {
			k := key{p, cmd}
			w, r := weir[k], redis[k]
			s.Rows = append(s.Rows, harness.RatioRow(fmt.Sprintf("%s -P %d", strings.ToUpper(cmd), p), w.rps(), r.rps(), harness.PerSecond("ops"), target(n, p, cmd), nil))
			s.Notes = append(s.Notes, fmt.Sprintf("%s -P %d: weir p50 %.3fms p99 %.3fms, %.2f cores; redis p50 %.3fms p99 %.3fms, %.2f cores",
				strings.ToUpper(cmd), p, w.p50(), w.p99, w.cores(), r.p50(), r.p99, r.cores()))
		}
	}
	s.Notes = append(s.Notes,
		"redis-server runs commands on one thread: it cannot use more than about one core; weir's members use as many as the Go scheduler gives them (the cores column counts all of the weir process: its members, and nothing else of note).",
		fmt.Sprintf("ops/s: requests over wall time, %d rounds taking turns; p50: mean over rounds, p99: worst round; with several members, the worst of the redis-benchmark processes (one per member, run together).", cfg.rounds),
		"load average before the workload: "+load,
	)
	return []harness.Section{s}, nil
}

// target is the project's bar for a row.
func target(members, pipeline int, cmd string) *harness.Target {
	switch {
	case members == 1 && pipeline == 1:
		return harness.AtLeast(1.0)
	case members == 1:
		return harness.AtLeast(0.5)
	case cmd == "get" && pipeline == 1:
		return harness.AtLeast(1.0)
	}
	return harness.NoTarget
}

// bench runs redis-benchmark for one command against addrs, one process
// per address, together, with the clients and requests split between them,
// and adds what they measured to res. cpu reads the server's CPU seconds.
func bench(ctx context.Context, cfg config, addrs []string, pipeline int, cmd string, cpu func() (float64, error), res *result) error {
	total := cfg.requests
	if pipeline > 1 {
		total = cfg.pipeRequests
	}
	type proc struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	procs := make([]*proc, len(addrs))
	cpu0, err := cpu()
	if err != nil {
		return err
	}
	start := time.Now()
	var done float64 // requests asked of the processes
	for i, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		clients := cfg.clients/len(addrs) + b2i(i < cfg.clients%len(addrs))
		n := total * clients / cfg.clients
		done += float64(n)
		args := []string{"-h", host, "-p", port, "-t", cmd, "-c", strconv.Itoa(clients), "-n", strconv.Itoa(n),
			"-d", strconv.Itoa(cfg.size), "-P", strconv.Itoa(pipeline), "--csv"}
		if cfg.keyspace > 0 {
			args = append(args, "-r", strconv.Itoa(cfg.keyspace))
		}
		p := &proc{cmd: exec.CommandContext(ctx, cfg.redisBenchmark, args...)}
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = os.Stderr
		if err := p.cmd.Start(); err != nil {
			return fmt.Errorf("%s (on Debian: apt-get install -y redis-tools): %w", cfg.redisBenchmark, err)
		}
		procs[i] = p
	}
	var errs []error
	for _, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.cmd, err))
		}
	}
	wall := time.Since(start).Seconds()
	cpu1, err := cpu()
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	var p50, p99 float64
	for _, p := range procs {
		row, err := csvRow(p.out.String(), cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", p.cmd, err)
		}
		p50, p99 = max(p50, row[4]), max(p99, row[6])
	}
	res.requests += done
	res.seconds += wall
	res.cpu += cpu1 - cpu0
	res.p50s = append(res.p50s, p50)
	res.p99 = max(res.p99, p99)
	return nil
}

// csvRow finds the row of cmd in redis-benchmark's --csv output: test,
// rps, avg, min, p50, p95, p99, max latency (ms).
func csvRow(out, cmd string) ([]float64, error) {
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read its CSV: %w:\n%s", err, out)
	}
	for _, r := range recs {
		if len(r) == 8 && strings.EqualFold(r[0], cmd) {
			var row [8]float64
			for i := 1; i < 8; i++ {
				if row[i], err = strconv.ParseFloat(r[i], 64); err != nil {
					return nil, fmt.Errorf("column %d of %q: %w", i, r, err)
				}
			}
			return row[:], nil
		}
	}
	return nil, fmt.Errorf("no %s row in its output:\n%s", cmd, out)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selfCPU is the CPU time of this process: the weir members.
func selfCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9, nil
}

// pidCPU reads a process's CPU time from /proc (Linux).
func pidCPU(pid int) func() (float64, error) {
	return func() (float64, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state is field 3, utime 14 and stime 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
		}
		ut, err1 := strconv.ParseFloat(f[11], 64)
		st, err2 := strconv.ParseFloat(f[12], 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
		}
		return (ut + st) / clockTicks, nil
	}
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times: 100
// on Linux on every architecture Go supports.
const clockTicks = 100

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
