// Command dagbench measures weir's stream-processing engine (package dag)
// against references measured in the same run on the same machine, and
// prints the ratios next to the targets the project set:
//
//  1. one member, generate -> map -> filter -> count: items/s against a
//     plain Go loop calling the same functions;
//  2. the same pipeline against goroutines per stage joined by channels;
//  3. a distributed edge between two members against a loopback TCP copy
//     of the same bytes;
//  4. NEXMark Q5 (hot items) with the pipeline API, on one member and on
//     several in this process: events/s and events/s per core, checked
//     against a plain Go computation of the same query;
//  5. Q5 at a fixed input rate: latency from a window's end to its result;
//  6. a stateful job exactly-once with a snapshot every second against the
//     same job with no guarantee: throughput, and the snapshots taken;
//  7. the time and size of a snapshot of 1M keys of state, against msgpack
//     encoding the same entries in plain Go;
//  9. Kafka topic -> map -> Kafka topic against a plain franz-go consume
//     -> produce loop, and the job exactly-once with a snapshot every
//     second against the job with no guarantee (broker: kfake in this
//     process);
//  10. NEXMark Q7 (highest bid per window) and Q8 (a window join), checked
//     against and compared with plain Go.
//
// Run it from the bench module: cd bench && go run ./cmd/dagbench -help
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
)

type config struct {
	workloads    []string
	rounds       int
	items        int64 // workloads 1 and 2
	edgeBytes    int64 // workload 3, per run and item size
	edgeSizes    []int
	events       int64 // workload 4, per run
	verifyEvents int64
	members      []int         // cluster sizes of workload 4
	duration     time.Duration // workload 5
	rate         int
	snapItems    int64 // workload 6, per run
	snapKeys     int64
	stateKeys    int64 // workload 7
	snapshots    int
	cpuProfile   string
	kafkaRecords int64 // workload 9, per run
}

var allWorkloads = []string{"pipeline", "edge", "nexmark", "latency", "snapshot", "state", "metrics", "kafka", "q7q8"}

// workloadNumbers lets -workloads name workloads by their section numbers.
var workloadNumbers = map[string]string{"1": "pipeline", "2": "pipeline", "3": "edge", "4": "nexmark", "5": "latency", "6": "snapshot", "7": "state", "8": "metrics", "9": "kafka", "10": "q7q8"}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dagbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	prog := &harness.Program{Name: "dagbench", Workloads: cfg.workloads, Profiler: &harness.Profiler{CPUPrefix: cfg.cpuProfile}}
	run := func(name string, workload func(context.Context, config, *harness.Profiler) ([]harness.Section, error)) {
		prog.Run(ctx, name, func() ([]harness.Section, error) { return workload(ctx, cfg, prog.Profiler) })
	}
	run("pipeline", pipelineWorkload)
	run("edge", edgeWorkload)
	run("nexmark", nexmarkWorkload)
	run("latency", latencyWorkload)
	run("snapshot", overheadWorkload)
	run("state", stateWorkload)
	run("metrics", metricsWorkload)
	run("kafka", kafkaWorkload)
	run("q7q8", windowsWorkload)
	if !prog.Finish(ctx, os.Stdout) {
		os.Exit(1)
	}
}

func parseFlags() (config, error) {
	var cfg config
	var workloads, sizes, members string
	flag.StringVar(&workloads, "workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run, by name or section number: "+strings.Join(allWorkloads, ", ")+" (pipeline prints sections 1 and 2)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "runs of weir and of its reference, taken in turn, in workloads pipeline, edge, nexmark, snapshot and q7q8")
	flag.Int64Var(&cfg.items, "items", 50_000_000, "items generated per run in workload pipeline")
	flag.Int64Var(&cfg.edgeBytes, "edge-bytes", 400_000_000, "encoded bytes sent per run and item size in workload edge")
	flag.StringVar(&sizes, "edge-sizes", "8,100,1000", "comma-separated string item sizes in bytes for workload edge (an int64 row comes first, the first size with ReuseMemory last)")
	flag.Int64Var(&cfg.events, "events", 20_000_000, "bids per run in workload nexmark, events per run in workload q7q8")
	flag.Int64Var(&cfg.verifyEvents, "verify-events", 1_000_000, "bids of the small run of workload nexmark checked against plain Go")
	flag.StringVar(&members, "members", "1,3", "comma-separated cluster sizes workloads nexmark, snapshot, state and q7q8 run on (members all in this process)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long workload latency feeds bids at -rate")
	flag.IntVar(&cfg.rate, "rate", 500_000, "bids per second in workload latency")
	flag.Int64Var(&cfg.snapItems, "snapshot-items", 100_000_000, "items per run in workload snapshot")
	flag.Int64Var(&cfg.snapKeys, "snapshot-keys", 100_000, "distinct keys in workload snapshot")
	flag.Int64Var(&cfg.stateKeys, "state-keys", 1_000_000, "keys of state in workload state")
	flag.IntVar(&cfg.snapshots, "snapshots", 5, "snapshots of the whole state measured per cluster size in workload state")
	flag.Int64Var(&cfg.kafkaRecords, "kafka-records", 4_000_000, "records per run in workload kafka")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of each workload to `PREFIX`-<workload>.pprof (references carry the label side=reference)")
	flag.Parse()
	var errs []error
	if flag.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	for _, w := range strings.Split(workloads, ",") {
		w = strings.TrimSpace(w)
		if name, ok := workloadNumbers[w]; ok {
			w = name
		}
		if !slices.Contains(allWorkloads, w) {
			errs = append(errs, fmt.Errorf("unknown workload %q (known: %s, or 1 to 9)", w, strings.Join(allWorkloads, ", ")))
		}
		cfg.workloads = append(cfg.workloads, w)
	}
	var err error
	if cfg.edgeSizes, err = intList("-edge-sizes", sizes, 1<<20); err != nil {
		errs = append(errs, err)
	}
	if cfg.members, err = intList("-members", members, 64); err != nil {
		errs = append(errs, err)
	}
	if cfg.rounds < 1 || cfg.items < 1 || cfg.edgeBytes < 1 || cfg.events < 1 || cfg.verifyEvents < 1 || cfg.rate < 1 ||
		cfg.snapItems < 1 || cfg.snapKeys < 1 || cfg.stateKeys < 1 || cfg.snapshots < 1 || cfg.kafkaRecords < 1 {
		errs = append(errs, errors.New("-rounds, -items, -edge-bytes, -events, -verify-events, -rate, -snapshot-items, -snapshot-keys, -state-keys, -snapshots and -kafka-records must be at least 1"))
	}
	if cfg.snapKeys > 100_000_000 {
		errs = append(errs, errors.New("-snapshot-keys: at most 100000000 (the sink keeps a slice of counts per writer)"))
	}
	if cfg.duration < 3*latencyWarmup {
		errs = append(errs, fmt.Errorf("-duration must be at least %v", 3*latencyWarmup))
	}
	return cfg, errors.Join(errs...)
}

// intList parses a comma-separated list of numbers between 1 and most.
func intList(flagName, list string, most int) ([]int, error) {
	var out []int
	var errs []error
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > most {
			errs = append(errs, fmt.Errorf("%s: %q is not a number from 1 to %d", flagName, s, most))
			continue
		}
		out = append(out, n)
	}
	return out, errors.Join(errs...)
}
