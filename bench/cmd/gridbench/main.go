// Command gridbench measures weir's distributed map against references
// measured in the same run on the same machine, and prints the ratios next
// to the targets the project set:
//
//  1. single member: Get, Put and near-cache hits through grid.Map against
//     Load and Store on a plain xsync.MapOf;
//  2. three members, 64 clients, 90% Get / 10% Put: throughput and latency
//     against a redis-server it starts on loopback, driven by go-redis;
//  3. memory: heap per stored copy of 1M entries with one backup.
//
// Run it from the bench module: cd bench && go run ./cmd/gridbench -help
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
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
)

type config struct {
	duration    time.Duration
	rounds      int
	warmup      time.Duration
	keys        int
	entries     int
	clients     int
	via         string
	workloads   []string
	redisServer string
	cpuProfile  string
	memProfile  string
}

var allWorkloads = []string{"single", "cluster", "memory"}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gridbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// A missing reference here is one that failed (redis), so its ratio
	// says n/a rather than nothing.
	prog := &harness.Program{Name: "gridbench", Workloads: cfg.workloads, NoRatio: "n/a",
		Profiler: &harness.Profiler{CPUPrefix: cfg.cpuProfile, HeapFile: cfg.memProfile}}
	run := func(name string, workload func(context.Context, config, *harness.Profiler) (harness.Section, error)) {
		prog.Run(ctx, name, func() ([]harness.Section, error) {
			s, err := workload(ctx, cfg, prog.Profiler)
			return []harness.Section{s}, err
		})
	}
	run("single", singleMember)
	run("cluster", mixedWorkload)
	run("memory", memoryFootprint)
	if !prog.Finish(ctx, os.Stdout) {
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var cfg config
	var workloads string
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long each measurement runs")
	flag.IntVar(&cfg.rounds, "rounds", 5, "slices each measurement is cut into, alternating with its reference's")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured run before each mixed-workload measurement")
	flag.IntVar(&cfg.keys, "keys", 100_000, "keys preloaded for workloads single and cluster")
	flag.IntVar(&cfg.entries, "entries", 1_000_000, "entries loaded for workload memory")
	flag.IntVar(&cfg.clients, "clients", 64, "concurrent clients in workload cluster (and redis PoolSize)")
	flag.StringVar(&cfg.via, "via", "lite", `how workload cluster's clients reach the 3 data members: "lite" (all through a 4th, lite member) or "members" (spread over the 3)`)
	flag.StringVar(&workloads, "workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run: "+strings.Join(allWorkloads, ", "))
	flag.StringVar(&cfg.redisServer, "redis-server", "redis-server", "redis-server binary (name on PATH or path)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of workloads single and cluster to `PREFIX`-<workload>.pprof (labels side and op tell weir from the reference)")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write a heap profile to `FILE` once workload memory is loaded")
	flag.Parse()
	var errs []error
	if flag.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	for _, w := range strings.Split(workloads, ",") {
		if w = strings.TrimSpace(w); !slices.Contains(allWorkloads, w) {
			errs = append(errs, fmt.Errorf("unknown workload %q (known: %s)", w, strings.Join(allWorkloads, ", ")))
		}
		cfg.workloads = append(cfg.workloads, strings.TrimSpace(w))
	}
	if cfg.via != "lite" && cfg.via != "members" {
		errs = append(errs, fmt.Errorf(`-via %q: want "lite" or "members"`, cfg.via))
	}
	if cfg.duration <= 0 || cfg.warmup < 0 {
		errs = append(errs, errors.New("-duration must be positive and -warmup not negative"))
	}
	if cfg.keys < 1 || cfg.entries < 1 || cfg.clients < 1 || cfg.rounds < 1 {
		errs = append(errs, errors.New("-keys, -entries, -clients and -rounds must be at least 1"))
	}
	return cfg, errors.Join(errs...)
}
