package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Workload 4's stream and query.
const (
	q5Size    = 10 * time.Second
	q5Slide   = time.Second
	q5SimRate = 100_000 // bids per simulated second
	q5Lag     = time.Millisecond
	// jetPerCore is the anchor: Hazelcast Jet reports about 2M events/s per
	// core on NEXMark Q5.
	jetPerCore = 2e6
	// The targets against plain Go on one goroutine, and of several
	// members against one.
	q5PerCoreTarget = 0.5
	q5CPUTarget     = 0.6
	q5MembersTarget = 0.8
)

// q5Base is the event time of the first simulated bid.
var q5Base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

type q5Params struct {
	N, Base, Rate int64
	Size, Slide   time.Duration
	Lag           time.Duration
	Run           string
}

func init() {
	dag.Register("dagbench.q5", func(p q5Params) (*dag.DAG, error) {
		pl := pipeline.New()
		bids := readBids(pl, simulatedBids(p.N, p.Base, p.Rate), p.Lag, p.Slide)
		_, top := q5(bids, p.Size, p.Slide)
		pipeline.WriteTo(top, hotItemSink(p.Run))
		return pl.Compile()
	})
}

// runQ5 runs Q5 over n simulated bids on c and returns its output.
func runQ5(ctx context.Context, c *harness.Cluster, n int64, round int) ([]hotItem, time.Duration, error) {
	run := runID("q5", round)
	d, err := runJob(ctx, c.Members[0], "dagbench.q5", q5Params{N: n, Base: q5Base, Rate: q5SimRate, Size: q5Size, Slide: q5Slide, Lag: q5Lag, Run: run})
	return takeHotItems(run), d, err
}

// q5Setup is one cluster workload 4 runs on, and what it measured.
type q5Setup struct {
	name    string
	members int
	c       *harness.Cluster
	res     measured
	// bad says how the small run failed or differed from plain Go;
	// measuredBad how a measured run differed.
	bad, measuredBad string
}

// nexmarkWorkload measures workload 4: Q5 over a bounded stream of
// simulated bids, on a cluster of each size in cfg.members (all in this
// process), against the same query in plain Go on one goroutine, in turn.
// Every run's output is checked against plain Go's.
func nexmarkWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	cores := runtime.GOMAXPROCS(0)
	sec := harness.Section{Title: fmt.Sprintf("4. NEXMark Q5 (hot items), %d bids per run, %dk bids per simulated second on %d auctions (%d%% of bids on %d), count per auction over Sliding(%v, %v), then the top auction per window; reference: plain Go, one goroutine",
		cfg.events, q5SimRate/1000, auctions, hotShare, hotAuctions, q5Size, q5Slide)}
	var setups []*q5Setup
	for _, n := range cfg.members {
		setups = append(setups, &q5Setup{members: n})
	}
	for _, s := range setups {
		s.name = fmt.Sprintf("%d members", s.members)
		if s.members == 1 {
			s.name = "1 member"
		}
		c, err := startCluster(ctx, fmt.Sprintf("q5-%d", s.members), s.members)
		if err != nil {
			return []harness.Section{sec}, err
		}
		defer c.Stop()
		s.c = c
	}

	// The small run, checked window by window.
	small := q5Plain(cfg.verifyEvents, q5Base, q5SimRate, q5Size, q5Slide)
	for _, s := range setups {
		got, _, err := runQ5(ctx, s.c, cfg.verifyEvents, 0)
		diff := firstDifference(got, small)
		sec.Rows = append(sec.Rows, harness.CheckRow(fmt.Sprintf("%s, %d bids: top auction of every window = plain Go's", s.name, cfg.verifyEvents), diff == "", fmt.Sprintf("%d windows", len(got)), err))
		switch {
		case err != nil:
			s.bad = err.Error()
		case diff != "":
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s, small run: %s", s.name, diff))
			s.bad = "the output differs from plain Go's"
		}
	}

	want := q5Plain(cfg.events, q5Base, q5SimRate, q5Size, q5Slide)
	var plain measured
	runs := []func(int){}
	for _, s := range setups {
		runs = append(runs, func(round int) {
			var got []hotItem
			var d time.Duration
			var err error
			s.res.addCPU(func() { got, d, err = runQ5(ctx, s.c, cfg.events, round) })
			s.res.add(float64(cfg.events), d, err)
			if diff := firstDifference(got, want); err == nil && diff != "" && s.measuredBad == "" {
				s.measuredBad = diff
			}
		})
	}
	runs = append(runs, func(int) {
		plain.addCPU(func() {
			plain.add(float64(cfg.events), reference(func() { q5Plain(cfg.events, q5Base, q5SimRate, q5Size, q5Slide) }), nil)
		})
	})
	prof.During("nexmark", func() { alternate(cfg.rounds, runs...) })

	var firstErr error
	perCore := func(v float64) float64 { return v / float64(cores) }
	for _, s := range setups {
		sec.Rows = append(sec.Rows,
			harness.RatioRow(s.name+": events/s", s.res.perSec(), plain.perSec(), eventsUnit, harness.NoTarget, s.res.err),
			harness.RatioRow(fmt.Sprintf("%s: events/s per core (/%d)", s.name, cores), perCore(s.res.perSec()), plain.perSec(), eventsUnit, harness.AtLeast(q5PerCoreTarget), s.res.err),
			harness.RatioRow(s.name+": events per CPU-second", s.res.perCPUSec(), plain.perCPUSec(), eventsUnit, harness.AtLeast(q5CPUTarget), s.res.err))
		if s.res.err != nil && firstErr == nil {
			firstErr = s.res.err
		}
	}
	// What a distributed edge costs: several members against one, per
	// CPU-second (per core they share the same cores).
	if len(setups) > 1 && setups[0].members == 1 {
		for _, s := range setups[1:] {
			sec.Rows = append(sec.Rows, harness.RatioRow(fmt.Sprintf("%s against 1 member: events per CPU-second", s.name), s.res.perCPUSec(), setups[0].res.perCPUSec(), eventsUnit, harness.AtLeast(q5MembersTarget), s.res.err))
		}
	}
	for _, s := range setups {
		sec.Rows = append(sec.Rows, harness.CheckRow(fmt.Sprintf("%s, measured runs: output = plain Go's", s.name), s.measuredBad == "", fmt.Sprintf("%d windows", len(want)), s.res.err))
		if s.measuredBad != "" {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s, measured run: %s", s.name, s.measuredBad))
		}
		switch {
		case firstErr != nil:
		case s.bad != "":
			firstErr = fmt.Errorf("%s, small run: %s", s.name, s.bad)
		case s.measuredBad != "":
			firstErr = fmt.Errorf("%s: a measured run's output differs from plain Go's", s.name)
		}
	}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("%d alternating rounds; weir's time runs from Submit to the end of Wait; per core = events/s / GOMAXPROCS (%d): every member of a setup runs in this process on the same cores", cfg.rounds, cores),
		"events per CPU-second divide by the CPU time the whole process used during the runs (getrusage): unlike per core, other processes taking cores do not lower it, and a pipeline that leaves cores idle does not either",
		fmt.Sprintf("the reference column is plain Go on one goroutine (one core); the anchor, not a same-run reference: Hazelcast Jet reports about %.0fM events/s per core on Q5 (on its own hardware)", jetPerCore/1e6),
		fmt.Sprintf("second step: WindowAll over Tumbling(%v) with TopN(1) (most bids, then lowest auction id); event-time lag %v, watermarks throttled to the slide", q5Slide, q5Lag))
	return []harness.Section{sec}, firstErr
}
