package pipeline

import (
	"fmt"

	"github.com/weir-dev/weir/dag"
)

// Sink is where a pipeline writes to. The connectors in package sinks build
// them; NewSink makes custom ones.
type Sink[T any] struct {
	name      string
	open      func(ctx *dag.Context) (SinkWriter[T], error)
	par       int
	singleton bool
	keyed     func(dag.Edge[Timed[T]]) // partitions the input; nil: local
}

// SinkWriter writes one processor instance's share of a sink's items.
type SinkWriter[T any] interface {
	// Write writes items; it may block (the engine gives each processor
	// its own goroutine). The slice is reused after Write returns.
	Write(items []T) error
	// Close flushes and releases resources; it is called once, also after a
	// failure.
	Close() error
}

// NewSink describes a sink whose writers open creates, one per processor
// instance.
func NewSink[T any](name string, open func(ctx *dag.Context) (SinkWriter[T], error)) Sink[T] {
	return Sink[T]{name: name, open: open}
}

// Parallelism sets the writers per member (default: the job's).
func (s Sink[T]) Parallelism(n int) Sink[T] { s.par = n; return s }

// Singleton sends every item to one writer in the cluster (a file, a
// socket, the embedding program).
func (s Sink[T]) Singleton() Sink[T] { s.singleton = true; return s }

// PartitionSink routes the items of a sink by key: every item of a key goes
// to the one writer that handles the key, on the member owning the key's
// partition in the grid. Writes of a key then arrive in the order the key's
// items were produced (which several writers sharing a key would not
// guarantee), and a sink into a distributed map writes locally.
func PartitionSink[T any, K comparable](s Sink[T], key func(T) K) Sink[T] {
	s.keyed = partitionByValue(key)
	return s
}

// Name is the sink's name.
func (s Sink[T]) Name() string { return s.name }

// WriteTo sends a stage's items to sink.
func WriteTo[T any](s Stage[T], sink Sink[T]) {
	n := s.n.p.add(sink.name, []*node{s.n}, nil)
	n.par = sink.par
	if sink.singleton {
		n.par = 1
	}
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &sinkWriterP[T]{sink: sink} })
		e := c.input(n, 0, 0)
		switch {
		case sink.singleton:
			e.distributed()
			e.allToOne()
		case sink.keyed != nil:
			e.distributed()
			e.partitionBy(sink.keyed)
		}
		return nil
	}
	newStage[T](n) // the sink's vertex has no outputs; the stage is not returned
}

type sinkWriterP[T any] struct {
	sink    Sink[T]
	w       SinkWriter[T]
	scratch []T
}

func (p *sinkWriterP[T]) Init(ctx *dag.Context) error {
	w, err := p.sink.open(ctx)
	if err != nil {
		return fmt.Errorf("sink %s: %w", p.sink.name, err)
	}
	p.w = w
	return nil
}

func (p *sinkWriterP[T]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[T]](in)
	p.scratch = p.scratch[:0]
	for _, it := range items {
		p.scratch = append(p.scratch, it.V)
	}
	if err := p.w.Write(p.scratch); err != nil {
		return fmt.Errorf("sink %s: %w", p.sink.name, err)
	}
	clear(p.scratch)
	in.Consume(len(items))
	return nil
}

func (p *sinkWriterP[T]) Complete() (bool, error) { return true, nil }

// TransactionalWriter is a SinkWriter taking part in two-phase commit (see
// dag.Committer): Prepare, on a snapshot's barrier, makes what was written since
// the last one durable but invisible and saves what committing it needs;
// CommitSnapshot makes it visible once the snapshot is complete. After a
// restart the writer receives what the restored snapshot saved, and
// FinishRestore commits it and discards what no snapshot covered.
type TransactionalWriter interface {
	Prepare(w *dag.SnapshotWriter) error
	CommitSnapshot(id uint64) error
	RestoreSnapshot(key, value []byte) error
	FinishRestore() error
}

func (p *sinkWriterP[T]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if tw, ok := p.w.(TransactionalWriter); ok {
		if err := tw.Prepare(w); err != nil {
			return false, fmt.Errorf("sink %s: prepare: %w", p.sink.name, err)
		}
	}
	return true, nil
}

func (p *sinkWriterP[T]) CommitSnapshot(id uint64) error {
	if tw, ok := p.w.(TransactionalWriter); ok {
		return tw.CommitSnapshot(id)
	}
	return nil
}

func (p *sinkWriterP[T]) RestoreSnapshot(key, value []byte) error {
	if tw, ok := p.w.(TransactionalWriter); ok {
		return tw.RestoreSnapshot(key, value)
	}
	return nil
}

func (p *sinkWriterP[T]) FinishRestore() error {
	if tw, ok := p.w.(TransactionalWriter); ok {
		return tw.FinishRestore()
	}
	return nil
}

func (p *sinkWriterP[T]) Close() error {
	if p.w != nil {
		return p.w.Close()
	}
	return nil
}
