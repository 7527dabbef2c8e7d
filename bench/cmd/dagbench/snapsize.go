package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/snapshot"
)

// stateInterval is how often workload 7's job snapshots: far apart enough
// that the reference, run after each snapshot, runs before the next. (A
// snapshot that takes longer than the interval is followed at once by the
// next.)
const stateInterval = 2 * time.Second

type keyStateParams struct {
	Keys int64
	Run  string
}

func init() {
	dag.Register("dagbench.key-state", func(p keyStateParams) (*dag.DAG, error) {
		return keyCounts(partitionedKeys(p.Keys, p.Keys, false), countingSink(p.Run))
	})
}

// stateSetup is one cluster workload 7 runs on, and what it measured.
type stateSetup struct {
	name    string
	built   time.Duration    // from Submit until every key had its state
	records []snapshotRecord // the snapshots of the whole state
	refTook []float64        // the reference's encoding times (ns)
	refSize int
	parts   int // the grid's partitions: the source saves a position for each
}

// stateWorkload measures workload 7: a streaming job whose keyed state
// holds cfg.stateKeys keys, snapshotted every stateInterval, on each
// cluster size: the time and size of the snapshots taken once every key
// has its state, against msgpack encoding the same entries in plain Go.
func stateWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("7. snapshot of %d keys: streaming source of %d distinct keys (then idle) -> GroupBy -> RollingAggregate(Count) -> sink, exactly-once, a snapshot every %v; reference: msgpack encoding of the same entries into memory, plain Go",
		cfg.stateKeys, cfg.stateKeys, stateInterval)}
	var firstErr error
	for _, n := range cfg.members {
		s := &stateSetup{name: membersName(n)}
		err := measureState(ctx, cfg, n, s, prof)
		if firstErr == nil {
			firstErr = err
		}
		took, size := medianSnapshot(s.records)
		keys := float64(cfg.stateKeys)
		refSize := float64(s.refSize)
		if s.refSize == 0 {
			refSize = nan
		}
		sec.Rows = append(sec.Rows,
			harness.RatioRow(fmt.Sprintf("%s: time per snapshot, median of %d", s.name, len(s.records)), took, median(s.refTook), latencyUnit, harness.Reported, err),
			harness.RatioRow(s.name+": bytes per snapshot, median", size, refSize, bytesUnit, harness.Reported, err),
			harness.RatioRow(s.name+": bytes per key", size/keys, refSize/keys, bytesUnit, harness.Reported, err))
		want := cfg.stateKeys + int64(s.parts)
		bad := slices.IndexFunc(s.records, func(r snapshotRecord) bool { return r.Entries != want })
		sec.Rows = append(sec.Rows, harness.CheckRow(s.name+": entries of every snapshot = keys + source positions", bad < 0 && len(s.records) > 0, fmt.Sprintf("%d + %d", cfg.stateKeys, s.parts), err))
		if bad >= 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: snapshot %d has %d entries, want %d", s.name, s.records[bad].ID, s.records[bad].Entries, want))
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: a snapshot does not hold the whole state", s.name)
			}
		}
		if len(s.records) > 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: state built %v after Submit; snapshots %d to %d took %s",
				s.name, s.built.Round(time.Millisecond), s.records[0].ID, s.records[len(s.records)-1].ID, durationSpread(s.records)))
		}
	}
	sec.Notes = append(sec.Notes,
		"time and size come from the coordinator's \"snapshot complete\" debug records (dag/snapcoord.go), of the snapshots begun once the sink had every key's result; the time runs from clearing the slot to telling the members of the commit, and the size is one copy (grid keeps a backup too when there are several members)",
		"the reference encodes each key (int64) and its state (a struct {S, Last int64}, as MapStateful saves it) with msgpack, compact integers, into one buffer, under the label side=reference; it runs once after each snapshot, in the quiet before the next, and its time is the median")
	return []harness.Section{sec}, firstErr
}

// measureState runs workload 7 on a cluster of n members.
func measureState(ctx context.Context, cfg config, n int, s *stateSetup, prof *harness.Profiler) (err error) {
	snapLog := newSnapshotLog()
	c, err := startClusterLogging(ctx, fmt.Sprintf("state-%d", n), n, logWith(snapLog))
	if err != nil {
		return err
	}
	defer c.Stop()
	m := c.Members[0]
	s.parts = m.PartitionCount()
	id := runID("state", 0)
	results := new(atomic.Int64)
	resultCounters.Store(id, results)
	defer resultCounters.Delete(id)

	start := time.Now()
	job, err := dag.Submit(ctx, m, "dagbench.key-state", keyStateParams{Keys: cfg.stateKeys, Run: id},
		dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(stateInterval))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := job.Cancel(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("cancel: %w", cerr)
		}
		if werr := job.Wait(ctx); !errors.Is(werr, dag.ErrCancelled) && err == nil {
			err = fmt.Errorf("job ended with %v, want cancelled", werr)
		}
		if derr := snapshot.OpenStore(m, job.ID).Drop(ctx); derr != nil && err == nil {
			err = fmt.Errorf("drop snapshots: %w", derr)
		}
	}()

	deadline := 2*time.Minute + time.Duration(cfg.stateKeys/10_000)*time.Second
	if err := poll(ctx, job, deadline, func() bool { return results.Load() >= cfg.stateKeys }); err != nil {
		return fmt.Errorf("building the state (%d of %d results): %w", results.Load(), cfg.stateKeys, err)
	}
	built := time.Now()
	s.built = built.Sub(start)
	// The reference runs once after each snapshot, in the quiet before the
	// next: it meets the same load from outside as the snapshots. The heap
	// is collected after it, as before every run in alternate.
	var refErr error
	prof.During(fmt.Sprintf("state-%d", n), func() {
		err = poll(ctx, job, deadline, func() bool {
			s.records = s.records[:0]
			for _, r := range snapLog.records(job.ID) {
				if !r.started().Before(built) && len(s.records) < cfg.snapshots {
					s.records = append(s.records, r)
				}
			}
			for refErr == nil && len(s.refTook) < len(s.records) {
				var size int
				d := reference(func() { size, refErr = encodeState(cfg.stateKeys) })
				s.refTook, s.refSize = append(s.refTook, float64(d)), size
				runtime.GC() // its garbage is not the next snapshot's to collect
			}
			return len(s.records) >= cfg.snapshots || refErr != nil
		})
	})
	switch {
	case refErr != nil:
		return fmt.Errorf("reference: %w", refErr)
	case err != nil:
		return fmt.Errorf("waiting for %d snapshots of the whole state (%d so far): %w", cfg.snapshots, len(s.records), err)
	}
	if got := results.Load(); got != cfg.stateKeys {
		return fmt.Errorf("the sink got %d results, want %d", got, cfg.stateKeys)
	}
	return nil
}

// poll waits until done reports true, the job stops running, ctx ends or
// timeout passes.
func poll(ctx context.Context, job *dag.Job, timeout time.Duration, done func() bool) error {
	until := time.Now().Add(timeout)
	for !done() {
		if st, err := job.Status(ctx); err != nil || st.Terminal() {
			return fmt.Errorf("job %s: status %v: %v", job.ID, st, err)
		}
		if time.Now().After(until) {
			return fmt.Errorf("not done within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// keyState mirrors what MapStateful saves of a key: its state (here
// Count's accumulator) and the event time of its last item.
type keyState struct {
	S    int64 `msgpack:"s"`
	Last int64 `msgpack:"l"`
}

// encodeState encodes keys 0..keys-1, each with a count of 1, as msgpack
// (compact integers, as weir encodes keys) into one buffer, and returns its
// size.
func encodeState(keys int64) (int, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	for k := range keys {
		if err := enc.EncodeInt(k); err != nil {
			return 0, err
		}
		if err := enc.Encode(&keyState{S: 1}); err != nil {
			return 0, err
		}
	}
	return buf.Len(), nil
}
