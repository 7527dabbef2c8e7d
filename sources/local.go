package sources

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// ErrNotRegistered: no process running the job registered the name its
// Channel or Seq source reads.
var ErrNotRegistered = errors.New("sources: name not registered")

// ErrAlreadyRegistered: the name is registered in this process already.
var ErrAlreadyRegistered = errors.New("sources: name already registered")

// localEntry is a channel or an iterator registered in this process.
type localEntry struct {
	kind string // "channel" or "iterator"
	v    any    // <-chan T or iter.Seq[T]
	elem reflect.Type

	mu sync.Mutex // guards reader and active
	// reader is the execution (job/execution) reading the entry, or the
	// last one that did: a late reader of that execution must not read it
	// again.
	reader string
	active bool // reader reads it now
}

// take claims the entry for the execution key. When it cannot, holder is
// the execution that has it: key itself (another instance of the same
// execution reads or read it: this one ends) or another one (it waits).
func (e *localEntry) take(key string) (ok bool, holder string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.reader == key:
		return false, key
	case e.active:
		return false, e.reader
	}
	e.reader, e.active = key, true
	return true, ""
}

// release gives the entry up: the next execution can read it.
func (e *localEntry) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active = false
}

// locals is the process-local registry: name -> *localEntry.
var locals sync.Map

// RegisterChannel makes ch readable by the Channel sources called name in
// the jobs that run on the members of this process. unregister removes the
// name; a job already reading the channel reads on.
//
//	orders := make(chan Order, 1024)
//	unregister, err := sources.RegisterChannel("orders", orders)
//	if err != nil { ... }
//	defer unregister()
func RegisterChannel[T any](name string, ch <-chan T) (unregister func(), err error) {
	if ch == nil {
		return nil, fmt.Errorf("register channel %q: nil channel", name)
	}
	return register(name, &localEntry{kind: "channel", v: ch, elem: reflect.TypeFor[T]()})
}

// RegisterSeq makes seq readable by the Seq sources called name in the jobs
// that run on the members of this process. unregister removes the name.
//
//	unregister, err := sources.RegisterSeq("fixtures", slices.Values(orders))
func RegisterSeq[T any](name string, seq iter.Seq[T]) (unregister func(), err error) {
	if seq == nil {
		return nil, fmt.Errorf("register iterator %q: nil iterator", name)
	}
	return register(name, &localEntry{kind: "iterator", v: seq, elem: reflect.TypeFor[T]()})
}

func register(name string, e *localEntry) (func(), error) {
	if name == "" {
		return nil, fmt.Errorf("register %s: empty name", e.kind)
	}
	if old, dup := locals.LoadOrStore(name, e); dup {
		return nil, fmt.Errorf("%w: %q (as a %s)", ErrAlreadyRegistered, name, old.(*localEntry).kind)
	}
	var once sync.Once
	return func() { once.Do(func() { locals.CompareAndDelete(name, e) }) }, nil
}

func lookupLocal(name string) (*localEntry, bool) {
	v, ok := locals.Load(name)
	if !ok {
		return nil, false
	}
	return v.(*localEntry), true
}

// LocalOption configures Channel and Seq sources.
type LocalOption func(*localConfig)

type localConfig struct {
	wait time.Duration
}

// WaitRegistered sets how long the readers of a Channel or Seq source wait
// for the name to be registered (or, registered in this process, for
// another job reading it to let it go) before the job fails (default
// DefaultWaitRegistered). It must not be negative.
func WaitRegistered(d time.Duration) LocalOption { return func(c *localConfig) { c.wait = d } }

// DefaultWaitRegistered is how long Channel and Seq sources wait for their
// name unless WaitRegistered says otherwise.
const DefaultWaitRegistered = 10 * time.Second

// Channel is a bounded source of the items sent to the channel registered
// under name with RegisterChannel in the process of a member running the
// job (a data member: lite members run no jobs): a job is code built from
// parameters on every member, and a channel cannot travel in parameters,
// so the job names it. The source ends when the channel is closed.
//
// One instance per process reads the channel: the first to claim it. The
// other instances of the job end at once without reading anything, on the
// members of the same process and, once the claim is announced on the
// cluster, on members in processes that did not register the name. If the
// name is registered in several processes, each one's channel is read. If
// no process running the job registers the name within WaitRegistered
// (default 10s; registering after the submission is fine), the job fails
// with an error wrapping ErrNotRegistered rather than wait for ever; a
// channel of another element type fails it at once. A channel is read by
// one job at a time: a job finding it read by another waits for it, as long
// as WaitRegistered.
//
// A channel is not replayable: a job with a processing guarantee cannot
// read it (its submission fails with dag.ErrNotReplayable). A job restarted
// after a failure reads on from what the channel still holds; the items
// taken before are lost. Read never waits: an empty channel is polled.
//
//	dag.Register("orders", func(p OrdersParams) (*dag.DAG, error) {
//		pl := pipeline.New()
//		orders := pipeline.ReadFrom(pl, sources.Channel[Order](p.Channel), pipeline.IngestionTime[Order]())
//		pipeline.WriteTo(orders, sinks.Map[string, Order]("orders")) // ...
//		return pl.Compile()
//	})
func Channel[T any](name string, opts ...LocalOption) pipeline.Source[T] {
	return localSource[T]("channel", name, opts, func(v any) puller[T] { return chanPuller[T](v.(<-chan T)) })
}

// Seq is a bounded source of the items of the iterator registered under
// name with RegisterSeq, claimed and read as Channel says. Not replayable;
// a job restarted after a failure iterates again from the start, if the
// iterator allows it.
//
// The iterator runs on the reading processor's goroutine (through
// iter.Pull), between its other work: it must produce each item without
// waiting. An iterator that blocks stalls the processor, and holds the
// job's cancellation until it yields: give such producers a Channel
// instead. An iterator that panics fails the job.
//
//	unregister, err := sources.RegisterSeq("fixtures", slices.Values(orders))
//	...
//	orders := pipeline.ReadFrom(pl, sources.Seq[Order]("fixtures"), pipeline.NoTimestamps[Order]())
func Seq[T any](name string, opts ...LocalOption) pipeline.Source[T] {
	return localSource[T]("iterator", name, opts, func(v any) puller[T] {
		next, stop := iter.Pull(v.(iter.Seq[T]))
		return &seqPuller[T]{next: next, halt: stop}
	})
}

// puller takes up to max items without waiting.
type puller[T any] interface {
	pull(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error)
	stop()
}

type chanPuller[T any] <-chan T

func (ch chanPuller[T]) pull(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	for len(buf) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return buf, true, nil
			}
			buf = append(buf, pipeline.SourceItem[T]{V: v})
		default:
			return buf, false, nil
		}
	}
	return buf, false, nil
}

func (chanPuller[T]) stop() {}

type seqPuller[T any] struct {
	next func() (T, bool)
	halt func()
}

func (s *seqPuller[T]) pull(buf []pipeline.SourceItem[T], max int) (_ []pipeline.SourceItem[T], done bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	for len(buf) < max {
		v, ok := s.next()
		if !ok {
			return buf, true, nil
		}
		buf = append(buf, pipeline.SourceItem[T]{V: v})
	}
	return buf, false, nil
}

// stop ends the iterator; a panic it raises while unwinding is dropped
// (Close runs outside the processor's goroutine, where nothing would catch
// it), as the job is ending anyway.
func (s *seqPuller[T]) stop() {
	defer func() { _ = recover() }()
	s.halt()
}

func localSource[T any](kind, name string, opts []LocalOption, open func(any) puller[T]) pipeline.Source[T] {
	c := localConfig{wait: DefaultWaitRegistered}
	for _, o := range opts {
		o(&c)
	}
	return pipeline.NewSource(kind+"-"+name, func(ctx *dag.Context) (pipeline.Reader[T], error) {
		var errs []error
		if name == "" {
			errs = append(errs, errors.New("empty name"))
		}
		if c.wait < 0 {
			errs = append(errs, fmt.Errorf("WaitRegistered(%s): it must not be negative", c.wait))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("%s source: %w", kind, err)
		}
		r := &localReader[T]{kind: kind, name: name, open: open, wait: c.wait, now: time.Now, lookup: lookupLocal,
			ctx: ctx.Context(), log: ctx.Logger}
		if r.log == nil {
			r.log = slog.New(slog.DiscardHandler)
		}
		if ctx.Service(grid.ServiceName) != nil {
			r.board = gridClaims{m: grid.GetMap[string, string](ctx, claimsMap)}
			r.member = ctx.MemberName()
		}
		r.key = ctx.JobID + "/" + strconv.FormatUint(ctx.Execution, 10)
		r.boardKey = r.key + "/" + kind + "/" + name
		r.deadline = r.now().Add(c.wait)
		return r, nil
	})
}

// localReader claims the registered channel or iterator and reads it; a
// reader that finds it claimed by its own execution ends, and one that
// finds it nowhere waits until a reader elsewhere announces its claim, or
// fails.
type localReader[T any] struct {
	kind, name string
	open       func(any) puller[T]
	lookup     func(name string) (*localEntry, bool)
	ctx        context.Context
	log        *slog.Logger
	board      claimBoard // nil: no cluster to ask (unit tests)
	member     string
	key        string // the execution reading: job/execution
	boardKey   string // the claim's key on the board: execution, kind, name
	wait       time.Duration
	deadline   time.Time
	now        func() time.Time
	asked      time.Time // when the board was last asked

	entry *localEntry // claimed
	p     puller[T]
}

// boardPoll is how often a reader that has not found its name asks whether
// another process claimed it.
const boardPoll = 100 * time.Millisecond

func (r *localReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	if r.p == nil {
		found, done, err := r.claim()
		if err != nil || done || !found {
			return buf, done, err
		}
	}
	buf, done, err := r.p.pull(buf, max)
	if err != nil {
		return buf, false, fmt.Errorf("%s %q: %w", r.kind, r.name, err)
	}
	return buf, done, nil
}

// claim looks for the name in this process, then on the claim board.
func (r *localReader[T]) claim() (found, done bool, err error) {
	e, registered := r.lookup(r.name)
	holder := ""
	if registered {
		if e.kind != r.kind {
			return false, false, fmt.Errorf("%q is registered as %s, not %s", r.name, article(e.kind), article(r.kind))
		}
		if want := reflect.TypeFor[T](); e.elem != want {
			return false, false, fmt.Errorf("%s %q holds %s items, the source reads %s", r.kind, r.name, e.elem, want)
		}
		var ok bool
		switch ok, holder = e.take(r.key); {
		case ok:
			return r.claimed(e)
		case holder == r.key:
			r.log.Debug("another instance reads this "+r.kind, "name", r.name)
			return false, true, nil
		}
	}
	now := r.now()
	if !registered && r.board != nil && now.Sub(r.asked) >= boardPoll {
		r.asked = now
		ctx, cancel := context.WithTimeout(r.ctx, time.Second)
		defer cancel()
		if _, ok, err := r.board.find(ctx, r.boardKey); err == nil && ok {
			return false, true, nil // read by a member of another process
		}
	}
	if now.Before(r.deadline) {
		return false, false, nil
	}
	if registered {
		return false, false, fmt.Errorf("%s %q is still read by another job (execution %s) after %s", r.kind, r.name, holder, r.wait)
	}
	return false, false, fmt.Errorf("%w: no process running the job registered %s called %q within %s", ErrNotRegistered, article(r.kind), r.name, r.wait)
}

// article puts "a" or "an" before kind.
func article(kind string) string {
	if kind == "iterator" {
		return "an " + kind
	}
	return "a " + kind
}

// claimed starts reading e, claimed, and announces it to the readers of
// the processes that did not register the name.
func (r *localReader[T]) claimed(e *localEntry) (found, done bool, err error) {
	r.entry, r.p = e, r.open(e.v)
	if r.board == nil {
		return true, false, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	if err := r.board.mark(ctx, r.boardKey, r.member, r.wait+time.Hour); err != nil {
		return false, false, fmt.Errorf("announce the claim of %s %q: %w", r.kind, r.name, err)
	}
	return true, false, nil
}

func (r *localReader[T]) Partitions() int { return 1 }

// Close gives the claim up, so that a restarted job, or another, can read
// on.
func (r *localReader[T]) Close() error {
	if r.p != nil {
		r.p.stop()
		r.p = nil
	}
	if r.entry != nil {
		r.entry.release()
		r.entry = nil
	}
	return nil
}

// claimBoard tells the readers of a Channel or Seq source in other
// processes that one in some process claimed the name, so they can end.
type claimBoard interface {
	mark(ctx context.Context, key, member string, ttl time.Duration) error
	find(ctx context.Context, key string) (member string, ok bool, err error)
}

// claimsMap is the grid map of the claims: job/execution/kind/name -> name
// of the member reading.
const claimsMap = "__weir.sources.claims"

type gridClaims struct{ m *grid.Map[string, string] }

func (g gridClaims) mark(ctx context.Context, key, member string, ttl time.Duration) error {
	return g.m.PutTTL(ctx, key, member, ttl)
}

func (g gridClaims) find(ctx context.Context, key string) (string, bool, error) {
	return g.m.Get(ctx, key)
}
