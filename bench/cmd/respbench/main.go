// Command respbench measures weir's RESP endpoint (package resp) with
// redis-benchmark, against a redis-server it starts itself, in the same run,
// the two taking turns:
//
//	redis-benchmark -t get,set,incr -c 50 -d 100 -P 1 (and -P 16)
//
// against one member, and against a 3-member cluster with one backup whose
// clients are spread over the members. It prints the ratios weir/redis,
// each system's p50 and p99 latency, and the cores each server used.
//
// Run it from the bench module: cd bench && go run ./cmd/respbench -help
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/weir-dev/weir/bench/internal/harness"
)

type config struct {
	requests       int
	pipeRequests   int
	rounds         int
	clients        int
	size           int
	keyspace       int
	pipelines      []int
	workloads      []string
	redisServer    string
	redisBenchmark string
	cpuProfile     string
}

var allWorkloads = []string{"single", "cluster", "cluster-near"}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "respbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	prog := &harness.Program{Name: "respbench", Workloads: cfg.workloads, NoRatio: "n/a",
		Profiler: &harness.Profiler{CPUPrefix: cfg.cpuProfile}}
	redis, err := harness.StartRedis(ctx, cfg.redisServer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "respbench:", err)
		os.Exit(1)
	}
	defer redis.Stop()
	ref := reference{addr: redis.Addr, name: redis.Name, pid: redis.PID()}
	for i, name := range allWorkloads {
		members, near := []int{1, 3, 3}[i], name == "cluster-near"
		prog.Run(ctx, name, func() (ss []harness.Section, err error) {
			prog.Profiler.During(name, func() { ss, err = measure(ctx, cfg, ref, members, near) })
			return ss, err
		})
	}
	if !prog.Finish(ctx, os.Stdout) {
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var cfg config
	var workloads, pipelines string
	flag.IntVar(&cfg.requests, "requests", 100_000, "requests of each command per round without pipelining (redis-benchmark -n)")
	flag.IntVar(&cfg.pipeRequests, "pipelined-requests", 400_000, "requests of each command per round with pipelining")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; in each, weir and redis-server take turns command by command")
	flag.IntVar(&cfg.clients, "clients", 50, "connections (redis-benchmark -c), spread over the members")
	flag.IntVar(&cfg.size, "size", 100, "value size in bytes (redis-benchmark -d)")
	flag.IntVar(&cfg.keyspace, "keyspace", 0, "random keys among this many (redis-benchmark -r); 0: one key, as redis-benchmark's default")
	flag.StringVar(&pipelines, "pipeline", "1,16", "comma-separated pipeline depths (redis-benchmark -P)")
	flag.StringVar(&workloads, "workloads", strings.Join(allWorkloads, ","), "comma-separated workloads: single (one member), cluster (3 members, one backup), cluster-near (the same with the endpoints' near cache)")
	flag.StringVar(&cfg.redisServer, "redis-server", "redis-server", "redis-server binary (name on PATH or path)")
	flag.StringVar(&cfg.redisBenchmark, "redis-benchmark", "redis-benchmark", "redis-benchmark binary (name on PATH or path)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the weir process per workload to PREFIX-<workload>.pprof")
	flag.Parse()
	var errs []error
	if flag.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	for _, w := range strings.Split(workloads, ",") {
		if w = strings.TrimSpace(w); !slices.Contains(allWorkloads, w) {
			errs = append(errs, fmt.Errorf("unknown workload %q", w))
		} else {
			cfg.workloads = append(cfg.workloads, w)
		}
	}
	for _, p := range strings.Split(pipelines, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(p), &n); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("-pipeline: %q is not a depth", p))
			continue
		}
		cfg.pipelines = append(cfg.pipelines, n)
	}
	if cfg.requests < 1 || cfg.pipeRequests < 1 || cfg.rounds < 1 || cfg.clients < 1 || cfg.size < 1 || cfg.keyspace < 0 {
		errs = append(errs, errors.New("-requests, -pipelined-requests, -rounds, -clients and -size must be positive, -keyspace not negative"))
	}
	return cfg, errors.Join(errs...)
}
