package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// q78Target is the target for Q7 and Q8: events/s per core at
// least this share of plain Go's on one goroutine.
const q78Target = 0.4

// runQ7 runs Q7 over n simulated bids on c and returns its output.
func runQ7(ctx context.Context, c *harness.Cluster, n int64, round int) ([]q7Result, time.Duration, error) {
	run := runID("q7", round)
	d, err := runJob(ctx, c.Members[0], "dagbench.q7", q7Params{N: n, Base: q5Base, Rate: q5SimRate, Size: q7Window, Lag: q5Lag, Run: run})
	return takeCollected(run, func(a, b q7Result) int { return cmp.Compare(a.End, b.End) }), d, err
}

// runQ8 runs Q8 over n simulated events on c and returns its output.
func runQ8(ctx context.Context, c *harness.Cluster, n int64, round int) ([]q8Result, time.Duration, error) {
	run := runID("q8", round)
	d, err := runJob(ctx, c.Members[0], "dagbench.q8", q8Params{N: n, Base: q5Base, Size: q8Window, Lag: q5Lag, Run: run})
	return takeCollected(run, compareQ8), d, err
}

// firstDiff describes the first difference between two outputs, or "".
func firstDiff[T comparable](got, want []T) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("result %d of %d: got %+v, want %+v", i+1, len(want), got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d results, want %d", len(got), len(want))
	}
	return ""
}

// query is one of workload 10's queries: how to run it on weir and in
// plain Go, compared by output.
type query[T comparable] struct {
	name  string
	weir  func(ctx context.Context, c *harness.Cluster, n int64, round int) ([]T, time.Duration, error)
	plain func(n int64) []T
}

// queryRows measures q on every cluster against plain Go, in turn, and
// checks every output against plain Go's.
func queryRows[T comparable](ctx context.Context, cfg config, clusters []*harness.Cluster, q query[T], sec *harness.Section) error {
	cores := runtime.GOMAXPROCS(0)
	res := make([]measured, len(clusters))
	bad := make([]string, len(clusters))
	var plain measured
	want := q.plain(cfg.events)
	var runs []func(int)
	for i, c := range clusters {
		small := q.plain(cfg.verifyEvents)
		got, _, err := q.weir(ctx, c, cfg.verifyEvents, 0)
		if err == nil {
			bad[i] = firstDiff(got, small)
		}
		runs = append(runs, func(round int) {
			var got []T
			var d time.Duration
			var err error
			res[i].addCPU(func() { got, d, err = q.weir(ctx, c, cfg.events, round) })
			res[i].add(float64(cfg.events), d, err)
			if diff := firstDiff(got, want); err == nil && diff != "" && bad[i] == "" {
				bad[i] = diff
			}
		})
	}
	runs = append(runs, func(int) {
		plain.addCPU(func() { plain.add(float64(cfg.events), reference(func() { q.plain(cfg.events) }), nil) })
	})
	alternate(cfg.rounds, runs...)
	var firstErr error
	for i, c := range clusters {
		name := fmt.Sprintf("%s, %d members", q.name, len(c.Members))
		sec.Rows = append(sec.Rows,
			harness.RatioRow(name+": events/s", res[i].perSec(), plain.perSec(), eventsUnit, harness.NoTarget, res[i].err),
			harness.RatioRow(fmt.Sprintf("%s: events/s per core (/%d)", name, cores), res[i].perSec()/float64(cores), plain.perSec(), eventsUnit, harness.AtLeast(q78Target), res[i].err),
			harness.RatioRow(name+": events per CPU-second", res[i].perCPUSec(), plain.perCPUSec(), eventsUnit, harness.NoTarget, res[i].err),
			harness.CheckRow(name+": output = plain Go's (small and measured runs)", bad[i] == "", fmt.Sprintf("%d results", len(want)), res[i].err))
		if bad[i] != "" {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %s", name, bad[i]))
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: the output differs from plain Go's", name)
			}
		}
		if res[i].err != nil && firstErr == nil {
			firstErr = res[i].err
		}
	}
	return firstErr
}

// windowsWorkload measures workload 10: NEXMark Q7 and Q8 on a cluster of
// each size in cfg.members, against plain Go on one goroutine.
func windowsWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("10. NEXMark Q7 (highest bid per Tumbling(%v), over workload 4's bids) and Q8 (people who joined and opened an auction in the same Tumbling(%v): a window join; one person for three auctions), %d events per run; reference: plain Go, one goroutine",
		q7Window, q8Window, cfg.events)}
	var clusters []*harness.Cluster
	for _, n := range cfg.members {
		c, err := startCluster(ctx, fmt.Sprintf("q78-%d", n), n)
		if err != nil {
			return []harness.Section{sec}, err
		}
		defer c.Stop()
		clusters = append(clusters, c)
	}
	var err7, err8 error
	prof.During("q7q8", func() {
		err7 = queryRows(ctx, cfg, clusters, query[q7Result]{name: "Q7", weir: runQ7,
			plain: func(n int64) []q7Result { return q7Plain(n, q5Base, q5SimRate, q7Window) }}, &sec)
		err8 = queryRows(ctx, cfg, clusters, query[q8Result]{name: "Q8", weir: runQ8,
			plain: func(n int64) []q8Result { return q8Plain(n, q5Base, q8Window) }}, &sec)
	})
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("%d alternating rounds; per core = events/s / GOMAXPROCS; Q7 with TopN(1) by price (then the earlier bid), Q8 with WindowJoin; a check compares every run's sorted output with plain Go's", cfg.rounds))
	if err7 != nil {
		return []harness.Section{sec}, err7
	}
	return []harness.Section{sec}, err8
}
