package pipeline

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/timed"
)

// Pipeline is the high-level way to write a job: typed stages joined by
// functions such as Map, GroupBy and Window, compiled into a DAG. Build it in
// a job's builder and return Compile's result:
//
//	dag.Register("word-count", func(p Params) (*dag.DAG, error) {
//		pl := pipeline.New()
//		lines := pipeline.ReadFrom(pl, sources.Lines(p.Files), pipeline.NoTimestamps[string]())
//		words := pipeline.FlatMap(lines, strings.Fields)
//		counts := pipeline.AggregateByKey(pipeline.GroupBy(words, pipeline.Identity[string]), pipeline.Count[string]())
//		pipeline.WriteTo(counts, sinks.Log[pipeline.KV[string, int64]]())
//		return pl.Compile()
//	})
type Pipeline struct {
	nodes []*node
	errs  []error
	names map[string]int
}

// New returns an empty pipeline.
func New() *Pipeline { return &Pipeline{names: map[string]int{}} }

// node is one stage as the compiler sees it.
type node struct {
	p      *Pipeline
	name   string
	inputs []*node
	// consumers are the stages reading this one, in the order they were
	// added; consumer i reads outbound ordinal i of this stage's vertex.
	consumers []*node
	// lateConsumers read this stage's second kind of output, the late items
	// of a windowed aggregation; their ordinals follow the consumers'.
	lateConsumers []*node
	// fromOrds[i] is the index of this stage among inputs[i]'s consumers
	// (or late consumers, if lateInput[i]).
	fromOrds  []int
	lateInput []bool
	par       int
	// build adds the stage's vertex (or vertices) and connects its inputs.
	build func(c *compiler) error
	// vertex is the vertex whose outputs are this stage's outputs.
	vertex *dag.Vertex
	// connect adds the edge from this node to consumer on its input ordinal;
	// set by the typed stage constructor that knows the item type.
	connect func(from *dag.Vertex, fromOrd int, to *dag.Vertex, toOrd int) edgeConfig
	// connectLate is connect for the late items, of another type.
	connectLate func(from *dag.Vertex, fromOrd int, to *dag.Vertex, toOrd int) edgeConfig
	built       bool
}

// edgeConfig lets the consumer configure the edge from its input.
type edgeConfig interface {
	distributed()
	broadcast()
	priority(int)
	allToOne()
	partitionBy(key any)
}

// Stage is a stream (or batch) of items of type T in a pipeline. Items carry
// their event time along; stages created from a source with NoTimestamps
// carry zero times.
type Stage[T any] struct {
	n *node
}

// Timed is how a pipeline carries an item with its event time (unix
// nanoseconds) along its edges: TS, the time, and V, the item.
type Timed[T any] = timed.Item[T]

func (p *Pipeline) add(name string, inputs []*node, build func(*compiler) error) *node {
	n := &node{p: p, name: p.uniqueName(name), inputs: inputs, build: build}
	for _, in := range inputs {
		if in.p != p {
			p.errs = append(p.errs, fmt.Errorf("stage %q reads a stage of another pipeline", name))
		}
		n.fromOrds = append(n.fromOrds, len(in.consumers))
		n.lateInput = append(n.lateInput, false)
		in.consumers = append(in.consumers, n)
	}
	p.nodes = append(p.nodes, n)
	return n
}

// uniqueName numbers repeated stage names: vertex names must be unique.
func (p *Pipeline) uniqueName(name string) string {
	if name == "" {
		name = "stage"
	}
	p.names[name]++
	if k := p.names[name]; k > 1 {
		return fmt.Sprintf("%s-%d", name, k)
	}
	return name
}

// newStage returns the typed handle of a node producing T items.
func newStage[T any](n *node) Stage[T] {
	n.connect = func(from *dag.Vertex, fromOrd int, to *dag.Vertex, toOrd int) edgeConfig {
		e := dag.Connect[Timed[T]](from, fromOrd, to, toOrd).KeepOrder()
		return typedEdgeConfig[T]{e}
	}
	return Stage[T]{n: n}
}

type typedEdgeConfig[T any] struct{ e dag.Edge[Timed[T]] }

func (c typedEdgeConfig[T]) distributed()   { c.e.Distributed() }
func (c typedEdgeConfig[T]) broadcast()     { c.e.Broadcast() }
func (c typedEdgeConfig[T]) priority(p int) { c.e.Priority(p) }
func (c typedEdgeConfig[T]) allToOne()      { c.e.AllToOne() }
func (c typedEdgeConfig[T]) partitionBy(key any) {
	key.(func(dag.Edge[Timed[T]]))(c.e)
}

// Name is the stage's name, also its vertex's.
func (s Stage[T]) Name() string { return s.n.name }

// LocalParallelism sets how many instances of the stage run on each member.
func (s Stage[T]) LocalParallelism(n int) Stage[T] {
	if n < 1 {
		s.n.p.errs = append(s.n.p.errs, fmt.Errorf("stage %q: local parallelism %d", s.n.name, n))
	}
	s.n.par = n
	return s
}

// compiler turns nodes into vertices and edges.
type compiler struct {
	d *dag.DAG
}

// Compile builds the pipeline's DAG.
func (p *Pipeline) Compile() (*dag.DAG, error) {
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	c := &compiler{d: dag.New()}
	for _, n := range p.nodes {
		if err := c.buildNode(n); err != nil {
			return nil, fmt.Errorf("stage %q: %w", n.name, err)
		}
	}
	// A stage's items reach the next stage in the order it emitted them,
	// where that costs nothing: every edge keeps order (dag.Edge.KeepOrder), so
	// Validate makes a local round-robin edge between equal parallelisms
	// isolated (instance i feeds instance i). Without it, a source's items
	// for one key could take two instances of a filter and overtake each
	// other on their way to the key's state.
	if err := c.d.Validate(); err != nil {
		return nil, err
	}
	return c.d, nil
}

func (c *compiler) buildNode(n *node) error {
	if n.built {
		return nil
	}
	for _, in := range n.inputs {
		if err := c.buildNode(in); err != nil {
			return err
		}
	}
	if err := n.build(c); err != nil {
		return err
	}
	if n.vertex != nil && n.par > 0 {
		n.vertex.LocalParallelism(n.par)
	}
	n.built = true
	return nil
}

// vertex adds n's vertex with the given supplier.
func (c *compiler) vertex(n *node, s dag.Supplier) *dag.Vertex {
	n.vertex = c.d.AddVertex(n.name, s)
	return n.vertex
}

// input connects input i of n (a built node) to n's vertex on ordinal ord,
// and returns the edge for configuration.
func (c *compiler) input(n *node, i, ord int) edgeConfig {
	in := n.inputs[i]
	from := n.fromOrds[i]
	if n.lateInput[i] {
		from += len(in.consumers)
		return in.connectLate(in.vertex, from, n.vertex, ord)
	}
	return in.connect(in.vertex, from, n.vertex, ord)
}

// outputs returns the emitters of every outbound edge of a pipeline
// processor: one per consumer stage, each offered every item.
func outputs[T any](ctx *dag.Context) (*fanout[T], error) {
	return outputRange[T](ctx, 0, ctx.Outputs())
}

// outputRange is outputs over the ordinals [from, to).
func outputRange[T any](ctx *dag.Context, from, to int) (*fanout[T], error) {
	f := &fanout[T]{}
	for i := from; i < to; i++ {
		e, err := dag.Output[Timed[T]](ctx, i)
		if err != nil {
			return nil, err
		}
		f.outs = append(f.outs, e)
	}
	f.done = make([]bool, len(f.outs))
	return f, nil
}

// fanout offers each item to every consumer of a stage. When a consumer's
// edge is full, Offer returns false having delivered the item to the others;
// offering the same item again delivers it to the rest.
type fanout[T any] struct {
	outs []*dag.Emitter[Timed[T]]
	done []bool
}

func (f *fanout[T]) Offer(v Timed[T]) bool {
	switch len(f.outs) {
	case 0:
		return true
	case 1:
		return f.outs[0].Offer(v)
	}
	all := true
	for i, o := range f.outs {
		if f.done[i] {
			continue
		}
		if o.Offer(v) {
			f.done[i] = true
		} else {
			all = false
		}
	}
	if all {
		clear(f.done)
	}
	return all
}

// single returns the only emitter, for the bulk fast path, or nil.
func (f *fanout[T]) single() *dag.Emitter[Timed[T]] {
	if len(f.outs) == 1 {
		return f.outs[0]
	}
	return nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
