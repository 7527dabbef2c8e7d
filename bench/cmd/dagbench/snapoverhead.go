package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/snapshot"
)

// overheadInterval is how often workload 6's exactly-once runs snapshot.
const overheadInterval = time.Second

type keyCountParams struct {
	N, Keys int64
	Run     string
}

func init() {
	dag.Register("dagbench.key-counts", func(p keyCountParams) (*dag.DAG, error) {
		return keyCounts(partitionedKeys(p.N, p.Keys, true), finalCountSink(p.Run, p.Keys))
	})
}

// overheadSetup is one cluster workload 6 runs on, and what it measured.
type overheadSetup struct {
	name       string
	exactly    measured // exactly-once runs
	none       measured // the same job with no guarantee
	snapshots  []uint64 // Info.Snapshots of each exactly-once run
	records    []snapshotRecord
	mismatch   string // how a run's final counts were wrong
	dropFailed error  // the first failure to drop a finished job's snapshots
}

// overheadWorkload measures workload 6: a stateful job over a bounded
// replayable source, exactly-once with a snapshot every second, against the
// same job with no guarantee, run by run in turn, on each cluster size.
// Every run's final counts are checked.
func overheadWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("6. snapshot overhead: %d items over %d keys per run, replayable partitioned source -> GroupBy -> RollingAggregate(Count) -> sink, exactly-once with a snapshot every %v; reference: the same job with no guarantee",
		cfg.snapItems, cfg.snapKeys, overheadInterval)}
	var setups []*overheadSetup
	var firstErr error
	prof.During("snapshot", func() {
		for _, n := range cfg.members {
			s := &overheadSetup{name: membersName(n)}
			setups = append(setups, s)
			if err := runOverhead(ctx, cfg, n, s); err != nil {
				firstErr = err
				return
			}
		}
	})
	for _, s := range setups {
		err := s.exactly.err
		if err == nil {
			err = s.none.err
		}
		if firstErr == nil {
			firstErr = err
		}
		took, size := medianSnapshot(s.records)
		sec.Rows = append(sec.Rows,
			harness.RatioRow(s.name+": items/s, exactly-once vs none", s.exactly.perSec(), s.none.perSec(), itemsUnit, harness.AtLeast(0.9), err),
			harness.RatioRow(s.name+": items per CPU-second", s.exactly.perCPUSec(), s.none.perCPUSec(), itemsUnit, harness.NoTarget, err),
			harness.RatioRow(s.name+": snapshots per exactly-once run", meanOf(s.snapshots), nan, countUnit, harness.NoTarget, err),
			harness.RatioRow(s.name+": snapshot time, median", took, nan, latencyUnit, harness.NoTarget, err),
			harness.RatioRow(s.name+": snapshot size, median", size, nan, bytesUnit, harness.NoTarget, err))
		sec.Rows = append(sec.Rows, harness.CheckRow(s.name+": final count of every key, both guarantees", s.mismatch == "", fmt.Sprintf("%d keys x %d", cfg.snapKeys, cfg.snapItems/cfg.snapKeys), err))
		if s.mismatch != "" {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %s", s.name, s.mismatch))
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %s", s.name, s.mismatch)
			}
		}
		if len(s.snapshots) > 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: snapshots per exactly-once run %v; %d snapshots logged, taking %s",
				s.name, s.snapshots, len(s.records), durationSpread(s.records)))
		}
		if s.dropFailed != nil {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: dropping a finished job's snapshots failed: %v", s.name, s.dropFailed))
		}
	}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("%d alternating rounds per cluster size, after an unmeasured run of each over a tenth of the items; times run from Submit to the end of Wait; snapshot time and size come from the coordinator's \"snapshot complete\" debug records", cfg.rounds),
		"items per CPU-second divide by the CPU time the whole process used during the runs (getrusage): other processes taking cores do not lower it, so it shows the cost of the guarantee when the machine is busy and items/s moves",
		"the engine leaves a finished job's snapshot maps in the grid; the benchmark drops them after each run (snapshot.OpenStore(...).Drop), outside the measured time")
	return []harness.Section{sec}, firstErr
}

// overheadRun is what one run of workload 6's job left.
type overheadRun struct {
	took, cpu time.Duration // from Submit to the end of Wait; the process's CPU time meanwhile
	counts    *finalCounts
	snapshots uint64           // Info.Snapshots
	records   []snapshotRecord // the snapshots logged
}

// runOverhead runs workload 6's rounds on a cluster of n members.
func runOverhead(ctx context.Context, cfg config, n int, s *overheadSetup) error {
	snapLog := newSnapshotLog()
	c, err := startClusterLogging(ctx, fmt.Sprintf("snapshot-%d", n), n, logWith(snapLog))
	if err != nil {
		return err
	}
	defer c.Stop()
	m := c.Members[0]
	exactlyOnce := []dag.JobOption{dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(overheadInterval)}
	// once runs the job over items; it drops the snapshots the job left,
	// after taking what it needs from the job's record and the log.
	once := func(round int, items int64, opts []dag.JobOption) (overheadRun, error) {
		id := runID("snapshot", round)
		r := overheadRun{counts: &finalCounts{}}
		countRuns.Store(id, r.counts)
		defer countRuns.Delete(id)
		cpu := cpuTime()
		d, job, err := runJobWith(ctx, m, "dagbench.key-counts", keyCountParams{N: items, Keys: cfg.snapKeys, Run: id}, opts...)
		r.took, r.cpu = d, cpuTime()-cpu
		if err != nil || len(opts) == 0 {
			return r, err
		}
		info, err := job.Info(ctx)
		r.snapshots, r.records = info.Snapshots, snapLog.records(job.ID)
		if derr := snapshot.OpenStore(m, job.ID).Drop(ctx); derr != nil && s.dropFailed == nil {
			s.dropFailed = derr
		}
		return r, err
	}
	// A run of each, unmeasured and over a tenth of the items: the first
	// runs on a new cluster are slower (connections, heap growth).
	for _, opts := range [][]dag.JobOption{exactlyOnce, nil} {
		if _, err := once(0, max(cfg.snapItems/10, 1), opts); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	run := func(round int, res *measured, opts ...dag.JobOption) {
		r, err := once(round, cfg.snapItems, opts)
		res.add(float64(cfg.snapItems), r.took, err)
		if err != nil {
			return
		}
		res.cpu += r.cpu
		if bad := checkFinalCounts(r.counts, cfg.snapItems, cfg.snapKeys); bad != "" && s.mismatch == "" {
			s.mismatch = bad
		}
		if len(opts) > 0 {
			s.snapshots = append(s.snapshots, r.snapshots)
			s.records = append(s.records, r.records...)
		}
	}
	// Which goes first changes every round (ABBA...), so neither always
	// runs on the heap and caches the other left.
	exactly, none := func(round int) { run(round, &s.exactly, exactlyOnce...) }, func(round int) { run(round, &s.none) }
	alternate(cfg.rounds,
		func(round int) {
			if round%2 == 0 {
				exactly(round)
			} else {
				none(round)
			}
		},
		func(round int) {
			if round%2 == 0 {
				none(round)
			} else {
				exactly(round)
			}
		})
	return nil
}

func membersName(n int) string {
	if n == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", n)
}

// medianSnapshot returns the median time and size of the snapshots.
func medianSnapshot(recs []snapshotRecord) (took, size float64) {
	if len(recs) == 0 {
		return nan, nan
	}
	ts := make([]float64, len(recs))
	bs := make([]float64, len(recs))
	for i, r := range recs {
		ts[i], bs[i] = float64(r.Took), float64(r.Bytes)
	}
	return median(ts), median(bs)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return nan
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func meanOf(v []uint64) float64 {
	if len(v) == 0 {
		return nan
	}
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	return sum / float64(len(v))
}

// durationSpread says how long the snapshots took: the shortest, the
// median and the longest.
func durationSpread(recs []snapshotRecord) string {
	if len(recs) == 0 {
		return "n/a"
	}
	ts := make([]float64, len(recs))
	for i, r := range recs {
		ts[i] = float64(r.Took)
	}
	return fmt.Sprintf("min %s, median %s, max %s", latencyUnit(slices.Min(ts)), latencyUnit(median(ts)), latencyUnit(slices.Max(ts)))
}
