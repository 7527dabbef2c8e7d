package sinks

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// ErrCollectorClosed: the collector a Collect sink writes to, or a caller
// waits on, was closed.
var ErrCollectorClosed = errors.New("sinks: collector closed")

// collectors maps the names of the collectors of this process to them.
var collectors sync.Map // name -> collectorEntry

type collectorEntry struct {
	c   any // *Collector[T]
	typ reflect.Type
}

// Collector gathers, in the process that made it, the items Collect sinks
// of that name write: a job's results handed back to the test or program
// that submitted it, with no map or channel in between. Jobs are built by
// name on every member, so the sink finds its collector by name; that
// works only where every member runs in this process (tests, examples, a
// service embedding its members). A sink in another process fails the job,
// saying so.
//
//	c, err := sinks.NewCollector[Alert]("alerts")
//	defer c.Close()
//	// in the job's builder: pipeline.WriteTo(alerts, sinks.Collect[Alert](p.Collector))
//	job, err := dag.Submit(ctx, m, "fleet.alerts", Params{Collector: "alerts"}, dag.WithGuarantee(dag.ExactlyOnce))
//	got, err := c.Wait(ctx, job)
//
// In a job with dag.ExactlyOnce it takes part in two-phase commit: what an
// instance wrote since the last snapshot stays pending on the snapshot's
// barrier (prepare) and joins Items when the snapshot completes in the
// whole cluster (commit). A job that restarts from a snapshot commits what
// the snapshot covered and drops what the failed execution wrote after it,
// which the new execution writes again: each item once. What a job writes
// after its last snapshot is committed as it completes (with Files' one
// narrow window: a member lost after another one committed so, before the
// coordinator learned it finished, repeats what that one wrote since the
// last snapshot). A cancelled or failed job's pending items never appear.
// Without a guarantee, or with dag.AtLeastOnce, items appear as they are
// written, and a restart writes again the items since its snapshot (or
// all, without one).
//
// A collector holds every item collected until Reset; strings and byte slices that
// came over a distributed edge keep alive the message they arrived in.
type Collector[T any] struct {
	name string

	mu      sync.Mutex                  // guards the fields below
	items   []T                         // committed
	jobs    map[string]*collectedJob[T] // two-phase commit state, by job ID
	changed chan struct{}               // closed (and replaced) when items grow or the collector closes
	closed  bool
}

// collectedJob is a job's two-phase commit state in a collector.
type collectedJob[T any] struct {
	// fence is the job's latest execution the collector knows of: the
	// earlier ones are over, and what they still send is ignored.
	fence   uint64
	pending map[collectTxn][]T
}

// collectTxn names what one instance of one execution wrote before one
// snapshot's barrier.
type collectTxn struct {
	Job   string `msgpack:"j"`
	Exec  uint64 `msgpack:"e"`
	Index int    `msgpack:"i"` // the instance's GlobalIndex
	Snap  uint64 `msgpack:"s"`
}

// NewCollector makes a collector and registers it under name in this
// process, for the Collect sinks of that name; Close unregisters it. A
// name is registered once at a time.
func NewCollector[T any](name string) (*Collector[T], error) {
	if name == "" {
		return nil, errors.New("new collector: empty name")
	}
	c := &Collector[T]{name: name, jobs: map[string]*collectedJob[T]{}, changed: make(chan struct{})}
	if _, dup := collectors.LoadOrStore(name, collectorEntry{c: c, typ: reflect.TypeFor[T]()}); dup {
		return nil, fmt.Errorf("new collector: %q is already registered", name)
	}
	return c, nil
}

// Name is the name the collector is registered under.
func (c *Collector[T]) Name() string { return c.name }

// Items returns a copy of the items collected (committed) so far: each sink
// instance's in the order it received them, the instances' interleaved.
func (c *Collector[T]) Items() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items)
}

// Len is the number of items collected so far.
func (c *Collector[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Wait waits until job ends and returns the items collected then, with the
// job's error (Job.Wait's). Once a job has completed, every sink instance
// has committed what it wrote.
func (c *Collector[T]) Wait(ctx context.Context, job *dag.Job) ([]T, error) {
	err := job.Wait(ctx)
	return c.Items(), err
}

// WaitLen waits until at least n items are collected, for a job that does
// not end, and returns them; it fails when ctx ends first or the collector
// is closed.
func (c *Collector[T]) WaitLen(ctx context.Context, n int) ([]T, error) {
	for {
		c.mu.Lock()
		if len(c.items) >= n {
			defer c.mu.Unlock()
			return slices.Clone(c.items), nil
		}
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("collector %q: %w", c.name, ErrCollectorClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("collector %q: waiting for %d items: %w", c.name, n, ctx.Err())
		}
	}
}

// Reset forgets the items collected so far. Items a running job has
// written but not committed yet are kept, and appear when committed.
func (c *Collector[T]) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = nil
}

// Close unregisters the collector: a job whose sink writes to it after
// that fails with ErrCollectorClosed, and so does a job that starts with a
// Collect sink of its name. The items stay readable. Closing again does
// nothing.
func (c *Collector[T]) Close() error {
	if v, ok := collectors.Load(c.name); ok && v.(collectorEntry).c == any(c) {
		collectors.CompareAndDelete(c.name, v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.changed)
	}
	return nil
}

// addLocked appends committed items and wakes the waiters.
func (c *Collector[T]) addLocked(items []T) {
	if len(items) == 0 {
		return
	}
	c.items = append(c.items, items...)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Collector[T]) errClosedLocked() error {
	if c.closed {
		return fmt.Errorf("collector %q: %w", c.name, ErrCollectorClosed)
	}
	return nil
}

// write commits items at once (no two-phase commit).
func (c *Collector[T]) write(items []T) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.errClosedLocked(); err != nil {
		return err
	}
	c.addLocked(items)
	return nil
}

// jobLocked returns a job's state, made if new.
func (c *Collector[T]) jobLocked(id string) *collectedJob[T] {
	j := c.jobs[id]
	if j == nil {
		j = &collectedJob[T]{pending: map[collectTxn][]T{}}
		c.jobs[id] = j
	}
	return j
}

// settle starts execution exec of job: once per execution, it commits the
// transactions keep names (those the snapshot the execution restored
// covered; none when it starts from the beginning) and drops every other
// one of the earlier executions, whose items are written again. Whichever
// instance of the execution comes first settles for all of them.
func (c *Collector[T]) settle(job string, exec uint64, keep []collectTxn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobLocked(job)
	if exec <= j.fence {
		return
	}
	j.fence = exec
	for _, t := range keep {
		// A snapshot exported by another job names that job's
		// transactions: they are covered by it all the same.
		if jt := c.jobs[t.Job]; jt != nil {
			if items, ok := jt.pending[t]; ok {
				c.addLocked(items)
				delete(jt.pending, t)
			}
		}
	}
	for t := range j.pending {
		if t.Exec < exec {
			delete(j.pending, t)
		}
	}
}

// prepare holds items pending under t, unless t's execution is over.
func (c *Collector[T]) prepare(t collectTxn, items []T) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.errClosedLocked(); err != nil {
		return err
	}
	j := c.jobLocked(t.Job)
	if t.Exec < j.fence || len(items) == 0 {
		return nil
	}
	j.pending[t] = items
	return nil
}

// commit makes what ts hold collected; done again, it finds them done.
func (c *Collector[T]) commit(ts []collectTxn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.errClosedLocked(); err != nil {
		return err
	}
	for _, t := range ts {
		j := c.jobLocked(t.Job)
		if items, ok := j.pending[t]; ok && t.Exec >= j.fence {
			c.addLocked(items)
			delete(j.pending, t)
		}
	}
	return nil
}

// Collect writes every item into the Collector registered under name in
// the process of the member running each sink instance (see Collector):
// exactly once in a job with dag.ExactlyOnce, by two-phase commit; as
// written otherwise.
func Collect[T any](name string) pipeline.Sink[T] {
	return pipeline.NewSink("collect-"+name, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		v, ok := collectors.Load(name)
		if !ok {
			return nil, fmt.Errorf("collect sink: no collector registered as %q in the process of member %s (Collect works only when the cluster runs in the process that made the collector with NewCollector)", name, ctx.MemberName())
		}
		e := v.(collectorEntry)
		c, ok := e.c.(*Collector[T])
		if !ok {
			return nil, fmt.Errorf("collect sink: collector %q collects %s, the sink writes %s", name, e.typ, reflect.TypeFor[T]())
		}
		return &collectWriter[T]{c: c, ctx: ctx, twoPhase: ctx.Guarantee == dag.ExactlyOnce}, nil
	})
}

type collectWriter[T any] struct {
	c        *Collector[T]
	ctx      *dag.Context
	twoPhase bool
	begun    bool         // the execution is settled
	buf      []T          // written since the last barrier
	prepared []collectTxn // prepared, not committed yet
	restored []collectTxn // the restored snapshot's, until FinishRestore
}

// begin settles the execution on first use, if no restore did: it starts
// from the beginning, so nothing of the earlier executions is kept.
func (w *collectWriter[T]) begin() {
	if !w.begun {
		w.c.settle(w.ctx.JobID, w.ctx.Execution, nil)
		w.begun = true
	}
}

func (w *collectWriter[T]) Write(items []T) error {
	if !w.twoPhase {
		return w.c.write(items)
	}
	w.begin()
	if err := w.c.errClosed(); err != nil {
		return err
	}
	w.buf = append(w.buf, items...)
	return nil
}

// Prepare hands what was written since the last barrier to the collector,
// pending, and records every transaction not committed yet in the
// snapshot: a restore from it commits them.
func (w *collectWriter[T]) Prepare(s *dag.SnapshotWriter) error {
	w.begin()
	t := collectTxn{Job: w.ctx.JobID, Exec: w.ctx.Execution, Index: w.ctx.GlobalIndex, Snap: s.ID()}
	if len(w.buf) > 0 {
		if err := w.c.prepare(t, w.buf); err != nil {
			return err
		}
		w.prepared = append(w.prepared, t)
		w.buf = nil
	}
	return dag.SaveBroadcast(s, fmt.Sprintf("collect-%d", w.ctx.GlobalIndex), w.prepared)
}

// CommitSnapshot commits what was prepared up to snapshot id.
func (w *collectWriter[T]) CommitSnapshot(id uint64) error {
	var done []collectTxn
	w.prepared = slices.DeleteFunc(w.prepared, func(t collectTxn) bool {
		if t.Snap <= id {
			done = append(done, t)
			return true
		}
		return false
	})
	return w.c.commit(done)
}

func (w *collectWriter[T]) RestoreSnapshot(key, value []byte) error {
	_, ts, err := dag.LoadEntry[string, []collectTxn](key, value)
	if err != nil {
		return err
	}
	w.restored = append(w.restored, ts...)
	return nil
}

// FinishRestore settles the execution: commits what the restored snapshot
// prepared, drops what the earlier executions wrote after it.
func (w *collectWriter[T]) FinishRestore() error {
	if w.twoPhase {
		w.c.settle(w.ctx.JobID, w.ctx.Execution, w.restored)
		w.begun = true
	}
	w.restored = nil
	return nil
}

// Close commits, when the execution ended normally (the job completes),
// what was prepared and what was written since; otherwise it leaves it
// pending, for a restore to commit or drop.
func (w *collectWriter[T]) Close() error {
	if !w.twoPhase || w.ctx.Context().Err() != nil {
		return nil
	}
	w.begin()
	t := collectTxn{Job: w.ctx.JobID, Exec: w.ctx.Execution, Index: w.ctx.GlobalIndex, Snap: 0}
	if len(w.buf) > 0 {
		// Snap 0: no snapshot's; committed at once.
		if err := w.c.prepare(t, w.buf); err != nil {
			return err
		}
		w.prepared = append(w.prepared, t)
		w.buf = nil
	}
	err := w.c.commit(w.prepared)
	w.prepared = nil
	return err
}

func (c *Collector[T]) errClosed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errClosedLocked()
}
