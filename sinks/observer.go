package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/member"
)

// Errors of observers.
var (
	// ErrJobFailed: the job writing to an observable failed; the error
	// says why.
	ErrJobFailed = errors.New("sinks: the job writing the observable failed")
	// ErrItemsLost: the observable's log overwrote entries of the job
	// before the observer read them (a second observer of the same name ran
	// ahead); reading goes on after them.
	ErrItemsLost = errors.New("sinks: observable items were overwritten before they were read")
)

const (
	// journalReadMax is how many log entries one read asks for.
	journalReadMax = 32
	// statusEvery is how often an observer that has read everything asks
	// whether its job has ended.
	statusEvery = 50 * time.Millisecond
	// maxPoll is the longest wait between two reads of an idle log.
	maxPoll = 20 * time.Millisecond
)

// Observer reads the items one job writes to an Observable sink. It has no
// goroutine of its own and holds no resources: Next does the work on the
// caller's goroutine, and an observer that is not read holds the job's
// writers back (backpressure). An observer is used from one goroutine; run
// one observer of a name at a time.
type Observer[T any] struct {
	m        *member.Member
	name     string
	log      *grid.Map[string, entry]
	progress *grid.Map[string, observerProgress]
	part     int
	codec    codec.Codec[T]

	job       string          // the job followed; "" until Observe's first entry of a job
	following bool            // an entry of job was read
	skip      map[string]bool // jobs that had ended when Observe was called
	next      uint64          // journal sequence to read next
	read      uint64          // Seq of the last entry read
	published uint64          // Read last published
	res       *resolver
	queue     []*entry // entries whose items count, not yet all returned
	items     []T      // the items of queue[0] not yet returned

	ending     error // the job ended so (io.EOF: completed): read what is left, then end
	endErr     error // io.EOF or the job's failure, once everything is read
	poll       time.Duration
	lastStatus time.Time // last time the job's status was asked
}

// Observe starts observing the Observable sink called name through member
// m, which may be any member, a lite one included. The observer reads the
// log from the oldest entry it holds and follows the first job it finds
// there that had not ended when Observe was called: call it before
// submitting the job (or use ObserveJob). Entries of other jobs are
// skipped. Observing a name nothing writes yet is not an error: the
// observer waits until a job writes to it.
//
//	obs, err := sinks.Observe[Alert](ctx, m, "alerts")
//	if err != nil { ... }
//	job, err := dag.Submit(ctx, m, "fleet-alerts", params)
//	for alert, err := range obs.All(ctx) {
//		if err != nil { ... } // the job failed or was cancelled
//		handle(alert)
//	}
func Observe[T any](ctx context.Context, m *member.Member, name string) (*Observer[T], error) {
	o, err := newObserver[T](m, name)
	if err != nil {
		return nil, err
	}
	jobs, err := dag.Jobs(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("observe %q: list jobs: %w", name, err)
	}
	for _, j := range jobs {
		if j.Status.Terminal() {
			o.skip[j.ID] = true
		}
	}
	return o, nil
}

// ObserveJob observes the items job writes to the Observable sink called
// name, whenever it was submitted, as long as the log still holds them: a
// job that ended long ago, and whose entries later jobs pushed out of the
// log, yields only what is left.
func ObserveJob[T any](m *member.Member, name string, job *dag.Job) (*Observer[T], error) {
	o, err := newObserver[T](m, name)
	if err != nil {
		return nil, err
	}
	if job == nil || job.ID == "" {
		return nil, fmt.Errorf("observe %q: no job", name)
	}
	o.job = job.ID
	return o, nil
}

func newObserver[T any](m *member.Member, name string) (*Observer[T], error) {
	if name == "" {
		return nil, errors.New("observe: no observable name")
	}
	log := grid.GetMap[string, entry](m, observableMap(name))
	part, err := log.Partition(logKey)
	if err != nil {
		return nil, err
	}
	return &Observer[T]{
		m: m, name: name,
		log:      log,
		progress: grid.GetMap[string, observerProgress](m, observerMap(name)),
		part:     part,
		codec:    codec.For[T](),
		skip:     map[string]bool{},
		res:      newResolver(),
	}, nil
}

// Job is the ID of the job the observer follows ("" until Observe has
// read an entry of one).
func (o *Observer[T]) Job() string { return o.job }

// Next returns the next item, waiting for it until ctx ends. Once the job
// has completed and every item was returned, it returns io.EOF; if the job
// failed, an error wrapping ErrJobFailed; if it was cancelled, one wrapping
// dag.ErrCancelled. Those are final: later calls return them again. An
// error of ctx is not: Next may be called again.
func (o *Observer[T]) Next(ctx context.Context) (T, error) {
	var zero T
	for {
		if len(o.items) > 0 {
			v := o.items[0]
			o.items[0] = zero
			o.items = o.items[1:]
			if len(o.items) == 0 {
				o.queue[0] = nil
				o.queue = o.queue[1:]
			}
			return v, nil
		}
		if len(o.queue) > 0 {
			items, err := decodeItems(o.codec, o.queue[0], nil)
			if err != nil {
				return zero, fmt.Errorf("observe %q: decode items: %w", o.name, err)
			}
			if len(items) == 0 {
				o.queue[0] = nil
				o.queue = o.queue[1:]
			}
			o.items = items
			continue
		}
		if o.endErr != nil {
			return zero, o.endErr
		}
		got, err := o.readLog(ctx)
		if err != nil {
			return zero, err
		}
		if got {
			o.poll = 0
			continue
		}
		// Read everything there is: has the job ended?
		if o.ending != nil {
			o.end()
			continue
		}
		if err := o.checkJob(ctx); err != nil {
			return zero, err
		}
		if o.ending != nil {
			continue // read once more: the job's last entries precede its end
		}
		if err := o.wait(ctx); err != nil {
			return zero, err
		}
	}
}

// All iterates over the items until the end of the stream; an error (the
// job failed or was cancelled, or ctx ended) is yielded once, last.
func (o *Observer[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := o.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// readLog reads the next entries of the log and reports whether it read
// any.
func (o *Observer[T]) readLog(ctx context.Context) (bool, error) {
	b, err := o.log.Partitioned().ReadJournal(ctx, o.part, o.next, journalReadMax)
	if errors.Is(err, grid.ErrStaleSequence) {
		lost := o.next
		o.next = b.Oldest
		if !o.following {
			return true, nil // not reading the job yet: start at the oldest entry held
		}
		return false, fmt.Errorf("observe %q: entries %d to %d: %w", o.name, lost, b.Oldest-1, ErrItemsLost)
	}
	if err != nil {
		return false, fmt.Errorf("observe %q: %w", o.name, err)
	}
	for _, ev := range b.Events {
		if !ev.HasValue || (ev.Type != grid.Added && ev.Type != grid.Updated) {
			continue
		}
		e := ev.Value
		o.read = max(o.read, e.Seq)
		if o.job == "" && !o.skip[e.Job] {
			o.job = e.Job
		}
		if e.Job != o.job {
			continue
		}
		o.following = true
		o.queue = o.res.add(&e, o.queue)
	}
	o.next = b.Next
	if len(b.Events) == 0 {
		return false, nil
	}
	return true, o.publish(ctx)
}

// checkJob asks, at most every statusEvery, whether the job has ended.
func (o *Observer[T]) checkJob(ctx context.Context) error {
	if o.job == "" || time.Since(o.lastStatus) < statusEvery {
		return nil
	}
	o.lastStatus = time.Now()
	info, err := dag.JobByID(o.m, o.job).Info(ctx)
	var status dag.JobStatus
	switch {
	case errors.Is(err, dag.ErrUnknownJob):
		status, info.Error = dag.Failed, "the job's record is gone"
	case err != nil:
		return fmt.Errorf("observe %q: status of job %s: %w", o.name, o.job, err)
	default:
		status = info.Status
	}
	switch status {
	case dag.Completed:
		o.ending = io.EOF
	case dag.Cancelled:
		o.ending = fmt.Errorf("observe %q: job %s: %w", o.name, o.job, dag.ErrCancelled)
	case dag.Failed:
		o.ending = fmt.Errorf("observe %q: job %s: %w: %s", o.name, o.job, ErrJobFailed, info.Error)
	}
	return nil
}

// end settles the job once everything it wrote was read: a completed job's
// items all count, a failed one's uncommitted items never do.
func (o *Observer[T]) end() {
	o.endErr, o.ending = o.ending, nil
	o.queue = o.res.finish(o.job, errors.Is(o.endErr, io.EOF), o.queue)
}

// wait waits for the log to grow: on a member holding the log's partition,
// until its journal says so; elsewhere, by polling, from every millisecond
// up to every maxPoll while the log stays idle.
func (o *Observer[T]) wait(ctx context.Context) error {
	o.poll = min(max(2*o.poll, time.Millisecond), maxPoll)
	t := time.NewTimer(o.poll)
	defer t.Stop()
	grown := o.log.Partitioned().JournalWait(o.part, o.next)
	select {
	case <-grown:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// publish stores how far the observer has read, if that moved: the
// writers wait for it.
func (o *Observer[T]) publish(ctx context.Context) error {
	if o.read == o.published {
		return nil
	}
	if err := o.progress.Put(ctx, progressKey, observerProgress{Read: o.read}); err != nil {
		return fmt.Errorf("observe %q: publish progress: %w", o.name, err)
	}
	o.published = o.read
	return nil
}
