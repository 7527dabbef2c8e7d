// Command gogreen runs the Go Green fleet-telemetry example: a simulated
// fleet of trucks streams fuel, axle-load and GNSS readings, and the
// dispatch system its driver assignments, into a job that computes fuel
// consumption, CO2 per vehicle and for the fleet per minute, a forecast of
// the monthly emission limit, trips matched to the roads by an external
// service with the fuel each burnt, the carbon footprint of each product
// carried, each driver's fuel economy, and alerts: overloaded or badly
// balanced cargo, speeding, fuel theft, trucks that need maintenance. It
// runs exactly-once, with snapshots.
//
//	go run ./examples/gogreen                      # 3 members in this process
//	go run ./examples/gogreen --kill-after 10s     # one of them fails at 10 s
//	go run ./examples/gogreen --vehicles 50 --duration 2m
//	go run ./examples/gogreen member [flags]       # a standalone member that runs the job
//	go run ./examples/gogreen --join 127.0.0.1:5701 # run it on a standalone cluster
//	go run ./examples/gogreen --kafka embedded     # readings through a Kafka topic
//
// The job's results live in distributed maps, which the example reads to
// print a live summary every few seconds and a final report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/cli"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "member" {
		// The standalone member command, linking the Go Green job.
		os.Exit(cli.RunMember("gogreen member", os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	vehicles  int
	members   int
	duration  time.Duration
	speedup   float64
	killAfter time.Duration
	join      string
	every     time.Duration
	limitT    float64
	seed      uint64
	lateEvery int
	snapshots time.Duration
	latency   time.Duration
	verbose   bool
	profile   string
	kafka     kafkaOptions
	// inspect, if set, is called after the report, before the job is
	// cancelled and the members stop (tests read the results with it).
	inspect func(ctx context.Context, m *member.Member, job *dag.Job, p Params) error
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gogreen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gogreen [flags]\n       gogreen member [member flags]\n\nRuns the Go Green fleet-telemetry job and prints what it computes.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.vehicles, "vehicles", defaultVehicles, "vehicles in the simulated fleet")
	fs.IntVar(&o.members, "members", 3, "cluster members to start in this process (ignored with --join)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to run (0: until interrupted)")
	fs.Float64Var(&o.speedup, "speedup", defaultSpeedup, "simulated seconds per second of the run")
	fs.DurationVar(&o.killAfter, "kill-after", 0, "kill one member abruptly this long into the run (0: never); with --join, one of the member processes")
	fs.StringVar(&o.join, "join", "", "gossip address of a standalone cluster to run on (its members must run \"gogreen member\")")
	fs.DurationVar(&o.every, "every", 3*time.Second, "how often to print the summary")
	fs.Float64Var(&o.limitT, "limit", 0, "the fleet's monthly CO2 allowance in tonnes (0: 90% of what the fleet is expected to emit)")
	fs.Uint64Var(&o.seed, "seed", 42, "seed of the simulation")
	fs.IntVar(&o.lateEvery, "late-every", 200, "one reading in this many arrives ten simulated minutes late (0: none)")
	fs.DurationVar(&o.snapshots, "snapshot-interval", 2*time.Second, "exactly-once snapshot interval")
	fs.DurationVar(&o.latency, "match-latency", 20*time.Millisecond, "response time of the simulated map-matching service")
	fs.BoolVar(&o.verbose, "verbose", false, "log what the members do")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	o.kafka.register(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.vehicles <= 0:
		return o, fmt.Errorf("--vehicles %d: want at least one", o.vehicles)
	case o.join == "" && o.members <= 0:
		return o, fmt.Errorf("--members %d: want at least one", o.members)
	case o.speedup <= 0:
		return o, fmt.Errorf("--speedup %v: want a positive speed-up", o.speedup)
	case o.killAfter < 0 || (o.join == "" && o.killAfter > 0 && o.members < 2):
		return o, fmt.Errorf("--kill-after %v: want a positive time, and --members 2 or more", o.killAfter)
	case o.every <= 0:
		return o, fmt.Errorf("--every %v: want a positive interval", o.every)
	}
	return o, o.kafka.validate()
}

// The default demo: 50 trucks, 8 simulated minutes a second, from 04:00
// on: 4 simulated hours in 30 s, from the night's quiet (about 400
// readings/s) through the drivers' change at 06:00 into the morning peak
// (about 3500 readings/s). BenchmarkJobCPUPerReading measured 225 to 450
// µs of CPU per reading on 3 in-process members, on a machine shared with
// other work (much of it the engine's polling, which grows with the run's
// length rather than with the readings): the peak needs about one to one
// and a half of 2 cores. The old default (1000 trucks, 20000 readings/s)
// needed several times what 2 cores have.
const (
	defaultVehicles = 50
	defaultSpeedup  = 480
)

func (o options) fleet() fleet.Config {
	c := fleet.DefaultConfig(o.vehicles)
	c.Seed = o.seed
	c.LateEvery = o.lateEvery
	c.StepsPerSecond = o.speedup / fleet.StepTime.Seconds()
	return c
}

// params are the job's parameters: the fleet, the service, the allowance.
func (o options) params(matchURL string) Params {
	c := o.fleet()
	limit := o.limitT * 1000
	if limit == 0 {
		limit = 0.9 * c.ExpectedLitersPerDay() * KgCO2PerLiter * 31
	}
	return Params{Fleet: c, MatchURL: matchURL, MonthlyLimitKg: limit}
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gogreen: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first interrupt the demo winds down (final snapshot,
		// report, members leave); a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			fmt.Fprintf(stderr, "gogreen: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "gogreen: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := demo(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gogreen: %v\n", err)
		return 1
	}
	return 0
}

// demo runs the example: cluster, reference data, job, summaries, report.
func demo(ctx context.Context, o options, stdout, stderr io.Writer) error {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ms, err := startMembers(ctx, o, logger)
	defer shutdown(ms)
	if err != nil {
		return err
	}
	m := ms[0]
	if o.join != "" {
		if err := checkCluster(ctx, m, o.join); err != nil {
			return err
		}
	}
	matcher, err := fleet.StartMatcher("127.0.0.1:0", o.latency)
	if err != nil {
		return err
	}
	defer func() {
		_ = matcher.Close()
		fleet.CloseClients()
	}()
	p := o.params(matcher.URL)
	feed, err := startKafka(ctx, o.kafka, &p, stdout) // with --kafka: the job reads a topic the simulation feeds
	if err != nil {
		return err
	}
	defer func() {
		if err := feed.Close(); err != nil {
			fmt.Fprintf(stderr, "gogreen: %v\n", err)
		}
	}()
	if err := prepare(ctx, m, p.Fleet); err != nil {
		return err
	}
	job, err := dag.Submit(ctx, m, JobName, p, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(o.snapshots))
	if err != nil {
		return fmt.Errorf("submit the job: %w", err)
	}
	start := time.Now()
	where := fmt.Sprintf("%d members in this process", len(ms))
	if o.join != "" {
		where = "the cluster at " + o.join
	}
	fmt.Fprintf(stdout, "Go Green: %d trucks from %s, simulated time %.0fx (one simulated minute every %.2f s), on %s\n",
		o.vehicles, p.Fleet.At(0).Format("Mon Jan 2 15:04"), o.speedup, 60/o.speedup, where)
	fmt.Fprintf(stdout, "job %s, exactly-once, snapshot every %v; monthly allowance %s CO2; drivers change trucks every %v\n\n",
		job.ID, o.snapshots, mass(p.MonthlyLimitKg), p.Fleet.Shift)

	end := time.After(o.duration)
	if o.duration == 0 {
		end = nil
	}
	var kill <-chan time.Time
	if o.killAfter > 0 {
		kill = time.After(o.killAfter)
	}
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	live := newLiveView(p, start)
loop:
	for {
		select {
		case <-tick.C:
			s, err := collect(ctx, m, job, p)
			if err != nil {
				return err
			}
			if s.Job.Status.Terminal() {
				return fmt.Errorf("the job ended: %s %s", s.Job.Status, s.Job.Error)
			}
			live.print(stdout, &s, time.Now())
		case <-kill:
			what, err := killOne(ms, o.join)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "[%3.0fs] killed %s: the job restarts from its last snapshot on the members left\n", time.Since(start).Seconds(), what)
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// A final snapshot, then the report from what the snapshot holds. (On
	// a machine busy with other work that can take a while.)
	final, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fmt.Fprintf(stdout, "[%3.0fs] suspending the job: a final snapshot\n", time.Since(start).Seconds())
	if err := job.Suspend(final); err != nil {
		_ = job.Cancel(final)
		return fmt.Errorf("suspend the job: %w", err)
	}
	s, err := collect(final, m, job, p)
	if err != nil {
		return err
	}
	s.printReport(stdout, time.Since(start))
	if o.inspect != nil {
		if err := o.inspect(final, m, job, p); err != nil {
			_ = job.Cancel(final)
			return err
		}
	}
	return job.Cancel(final)
}

// checkCluster makes sure the cluster's members can run the job before
// anything is loaded: a plain "weir member" does not link it.
func checkCluster(ctx context.Context, m *member.Member, addr string) error {
	// An invalid job: a member that knows the job refuses its parameters;
	// one that does not, its name. Neither starts anything.
	_, err := dag.Submit(ctx, m, JobName, Params{})
	if errors.Is(err, dag.ErrUnknownJob) {
		return fmt.Errorf("the cluster at %s does not run the Go Green job: start its members with \"gogreen member\" (go run ./examples/gogreen member ...), not \"weir member\"", addr)
	}
	if err == nil {
		return fmt.Errorf("the cluster at %s accepted an invalid Go Green job", addr)
	}
	return nil
}

// killOne stops a member abruptly: in this process, the last one started
// stops without leaving (as if its process died); on a standalone cluster,
// the process of one of its members is killed.
func killOne(ms []*member.Member, join string) (string, error) {
	if join != "" {
		return killMemberProcess(ms[0])
	}
	victim := ms[len(ms)-1]
	victim.Terminate()
	return "member " + victim.Name() + " (stopped without leaving)", nil
}

// startMembers starts the in-process members, or one lite member joining
// a standalone cluster.
func startMembers(ctx context.Context, o options, logger *slog.Logger) ([]*member.Member, error) {
	cfg := member.LocalConfig()
	cfg.Logger = logger
	// Production failure detection: the fast one of LocalConfig (meant for
	// tests) takes a member starved of CPU on a small machine for dead.
	cfg.Gossip = member.DefaultConfig().Gossip
	if o.join != "" {
		cfg.Lite = true
		cfg.Join = []string{o.join}
		m, err := weir.Start(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("join %s: %w", o.join, err)
		}
		return []*member.Member{m}, nil
	}
	var ms []*member.Member
	for i := range o.members {
		c := cfg
		c.Name = fmt.Sprintf("gogreen-%d", i+1)
		if i > 0 {
			c.Join = []string{ms[0].Addr()}
		}
		m, err := weir.Start(ctx, c)
		if err != nil {
			return ms, fmt.Errorf("start member %d: %w", i+1, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// shutdown stops the members, the last started first, within a bound.
func shutdown(ms []*member.Member) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := len(ms) - 1; i >= 0; i-- {
		_ = ms[i].Shutdown(ctx)
	}
}

// prepare loads what the job looks up, and clears the results of an
// earlier run (on a standalone cluster).
func prepare(ctx context.Context, m *member.Member, c fleet.Config) error {
	vehicles := map[string]fleet.Vehicle{}
	for _, v := range c.Fleet() {
		vehicles[v.ID] = v
	}
	if err := grid.GetMap[string, fleet.Vehicle](m, VehiclesMap).PutAll(ctx, vehicles); err != nil {
		return fmt.Errorf("load the vehicles: %w", err)
	}
	for _, name := range resultMaps {
		if err := grid.GetMap[string, []byte](m, name).Clear(ctx); err != nil {
			return fmt.Errorf("clear %s: %w", name, err)
		}
	}
	return nil
}
