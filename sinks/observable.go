package sinks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// DefaultObservableBuffer is an observable's default buffer: the entries
// (chunks of up to 64 KiB of items) its log keeps.
const DefaultObservableBuffer = 1024

// minObservableBuffer is the smallest buffer accepted.
const minObservableBuffer = 16

// ObservableOption configures an Observable sink.
type ObservableOption func(*observableConfig)

type observableConfig struct {
	buffer int
}

// ObservableBuffer sets how many entries (each a chunk of up to 64 KiB of
// items, or a marker) the observable's log keeps, at least 16 and at least
// four per sink instance. Writers wait once half of it is unread, so the
// log does not overwrite an entry the observer has not read. Memory: each
// entry is kept with its predecessor (the journal records old and new
// values), so up to twice the buffer's chunks on the log's owner and on
// each backup. Every job writing to one observable must use the same buffer
// (the job fails with grid.ErrConfigMismatch otherwise).
func ObservableBuffer(entries int) ObservableOption {
	return func(c *observableConfig) { c.buffer = entries }
}

// Observable writes items for embedding code to read with Observe or
// ObserveJob, on any member of the cluster, lite members included: the
// pipeline equivalent of returning results to a caller.
//
//	// in the job's builder:
//	pipeline.WriteTo(alerts, sinks.Observable[Alert](p.Observable))
//
//	// in the embedding program, on any member:
//	obs, err := sinks.Observe[Alert](ctx, m, "alerts") // before submitting
//	job, err := dag.Submit(ctx, m, "fleet-alerts", Params{Observable: "alerts"})
//	for alert, err := range obs.All(ctx) {
//		if err != nil { ... } // the job failed or was cancelled
//		handle(alert)
//	}
//	// the loop ends when the job has completed and every item was read
//
// # How it works
//
// The sink appends its items, in chunks, to a log: successive versions of
// one key of the grid map "__weir.observable.<name>", whose event journal
// orders them. The observer reads the journal from wherever it runs and
// publishes how far it has read; a writer more than half the buffer ahead
// waits (backpressure through the job, up to its sources) instead of letting
// the journal overwrite what was not read. A job writing to an observable
// nobody observes therefore stops once half the buffer is full, and goes on
// when an observer comes; it logs once that it is waiting. Waiting ends
// when the job is cancelled. All items go through the one owner of the
// log's partition: an observable is for results, not for bulk data.
//
// One observer reads one job's items (see Observe): use one observable name
// per job, or run the jobs one after the other.
//
// # Order and guarantees
//
// Items of one sink instance arrive in the order the instance received
// them; the sink has one instance per member. The observer learns the end
// of the stream, or the job's failure, from the job's status once it has
// read everything.
//
// With dag.ExactlyOnce every item is delivered exactly once through
// failures and restarts: the sink writes two-phase-commit markers into the
// log (which items each snapshot covers, which snapshots completed, which
// one a restart restored), and the observer delivers an item only once the
// snapshot covering it has completed, or once the job has completed, and
// drops what a failed execution wrote after its last snapshot, which the
// restarted job writes again. The price is latency (items arrive at the
// snapshot interval's pace) and memory in the observer: it holds the items
// it has read that no completed snapshot covers yet, up to a snapshot
// interval's output (more while snapshots fail). With dag.AtLeastOnce
// items are delivered as soon as written, and after a restart the items
// processed since the last snapshot are delivered again; with dag.None a
// failed job fails.
func Observable[T any](name string, opts ...ObservableOption) pipeline.Sink[T] {
	cfg := observableConfig{buffer: DefaultObservableBuffer}
	for _, o := range opts {
		o(&cfg)
	}
	return pipeline.NewSink("observable-"+name, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		if err := cfg.validate(name, ctx.TotalParallelism); err != nil {
			return nil, err
		}
		store := &observableLog{
			ctx:      ctx,
			name:     name,
			log:      grid.GetMap[string, entry](ctx, observableMap(name), grid.WithJournal(cfg.buffer)),
			progress: grid.GetMap[string, observerProgress](ctx, observerMap(name)),
			bound:    uint64(cfg.buffer / 2),
		}
		return openLogWriter[T](ctx, fmt.Sprintf("observable sink %q", name), store)
	}).Parallelism(1)
}

func (c observableConfig) validate(name string, writers int) error {
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("observable sink: no name"))
	}
	if c.buffer < minObservableBuffer {
		errs = append(errs, fmt.Errorf("observable sink %q: buffer of %d entries, want at least %d", name, c.buffer, minObservableBuffer))
	} else if writers > c.buffer/4 {
		errs = append(errs, fmt.Errorf("observable sink %q: %d writers need a buffer of at least %d entries, not %d (ObservableBuffer)", name, writers, 4*writers, c.buffer))
	}
	return errors.Join(errs...)
}

// observableMap names the map holding an observable's log; observerMap the
// map where its observer publishes its progress.
func observableMap(name string) string { return "__weir.observable." + name }
func observerMap(name string) string   { return "__weir.observer." + name }

// logKey is the one key whose versions form an observable's log, so that a
// single partition journal orders every entry.
const logKey = "log"

// progressKey is the key of an observer's progress in its map.
const progressKey = "progress"

// observerProgress is what an observer publishes.
type observerProgress struct {
	// Read is the position (entry Seq) of the last entry read: writers
	// wait while they are more than half the buffer ahead of it.
	Read uint64 `msgpack:"r"`
}

// appendEntry numbers an entry and makes it the log key's new version,
// atomically on the key's owner; a retried call is answered, not applied
// again, so every entry is in the journal once.
var appendEntry = grid.RegisterProcessor("weir.sinks.observable.append",
	func(_ string, last entry, exists bool, e entry) (entry, grid.Action, uint64, error) {
		e.Seq = 1
		if exists {
			e.Seq = last.Seq + 1
		}
		return e, grid.Set, e.Seq, nil
	})

// observableLog appends to an observable's log with backpressure. It is
// used by one sink instance, from its goroutine.
type observableLog struct {
	ctx      *dag.Context
	name     string
	log      *grid.Map[string, entry]
	progress *grid.Map[string, observerProgress]
	bound    uint64
	last     uint64 // position of this writer's last entry
	read     uint64 // the observer's progress, last seen
	warned   bool
}

func (l *observableLog) append(ctx context.Context, e *entry, wait bool) error {
	if wait {
		if err := l.waitForRoom(ctx); err != nil {
			return err
		}
	}
	seq, err := grid.Execute(ctx, l.log, logKey, appendEntry, *e)
	if err != nil {
		return err
	}
	l.last = seq
	return nil
}

// waitForRoom waits until this writer's last entry is less than bound ahead
// of what the observer has read, or ctx ends. Other writers may have
// appended since, so the log may hold up to one entry per writer more than
// bound (and the two markers per writer an execution writes while it is set
// up, without waiting): the buffer is at least four times the writers for
// that.
func (l *observableLog) waitForRoom(ctx context.Context) error {
	if l.last < l.read+l.bound {
		return nil
	}
	start := time.Now()
	delay := time.Millisecond
	for {
		p, _, err := l.progress.Get(ctx, progressKey)
		if err != nil {
			return fmt.Errorf("read the observer's progress: %w", err)
		}
		l.read = max(l.read, p.Read)
		if l.last < l.read+l.bound {
			return nil
		}
		l.ctx.Counter(observerWaitsCounter).Add(1)
		if !l.warned && time.Since(start) > 5*time.Second {
			l.warned = true
			l.ctx.Logger.Info("observable sink waits for its observer to read", "observable", l.name, "unread", l.last-l.read)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// observerWaitsCounter counts, in the sink's metrics
// (dag.ProcessorMetrics.Counters), the times a writer found the log full
// and waited for the observer.
const observerWaitsCounter = "observer_waits"
