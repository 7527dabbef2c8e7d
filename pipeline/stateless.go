package pipeline

import "github.com/weir-dev/weir/dag"

// Map transforms every item with fn. Stateless stages run next to their
// input on the same member (local edges).
func Map[In, Out any](s Stage[In], fn func(In) Out) Stage[Out] { return mapNamed(s, "map", fn) }

func mapNamed[In, Out any](s Stage[In], name string, fn func(In) Out) Stage[Out] {
	n := s.n.p.add(name, []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &mapStage[In, Out]{fn: fn} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[Out](n)
}

type mapStage[In, Out any] struct {
	fn  func(In) Out
	out *fanout[Out]
}

func (p *mapStage[In, Out]) Init(ctx *dag.Context) (err error) {
	p.out, err = outputs[Out](ctx)
	return err
}

func (p *mapStage[In, Out]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[In]](in)
	if e := p.out.single(); e != nil {
		for len(items) > 0 {
			buf := e.Space(len(items))
			if buf == nil {
				break
			}
			if len(buf) == 0 {
				return nil
			}
			for i := range buf {
				buf[i] = Timed[Out]{TS: items[i].TS, V: p.fn(items[i].V)}
			}
			e.Commit(len(buf))
			in.Consume(len(buf))
			items = items[len(buf):]
		}
	}
	for i, it := range items {
		if !p.out.Offer(Timed[Out]{TS: it.TS, V: p.fn(it.V)}) {
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *mapStage[In, Out]) Complete() (bool, error) { return true, nil }

// Filter keeps the items keep accepts.
func Filter[T any](s Stage[T], keep func(T) bool) Stage[T] {
	n := s.n.p.add("filter", []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &filterStage[T]{keep: keep} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[T](n)
}

type filterStage[T any] struct {
	keep func(T) bool
	out  *fanout[T]
}

func (p *filterStage[T]) Init(ctx *dag.Context) (err error) {
	p.out, err = outputs[T](ctx)
	return err
}

func (p *filterStage[T]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[T]](in)
	if e := p.out.single(); e != nil {
		for len(items) > 0 {
			buf := e.Space(len(items))
			if buf == nil {
				break
			}
			if len(buf) == 0 {
				return nil
			}
			k, i := 0, 0
			for ; i < len(items) && k < len(buf); i++ {
				if p.keep(items[i].V) {
					buf[k] = items[i]
					k++
				}
			}
			e.Commit(k)
			in.Consume(i)
			items = items[i:]
		}
	}
	for i, it := range items {
		if p.keep(it.V) && !p.out.Offer(it) {
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *filterStage[T]) Complete() (bool, error) { return true, nil }

// FlatMap emits every item fn returns for each input item (none to drop it).
func FlatMap[In, Out any](s Stage[In], fn func(In) []Out) Stage[Out] {
	n := s.n.p.add("flat-map", []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &flatMapStage[In, Out]{fn: fn} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[Out](n)
}

type flatMapStage[In, Out any] struct {
	fn      func(In) []Out
	out     *fanout[Out]
	pending []Out
	ts      int64
}

func (p *flatMapStage[In, Out]) Init(ctx *dag.Context) (err error) {
	p.out, err = outputs[Out](ctx)
	return err
}

func (p *flatMapStage[In, Out]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(Timed[Out]{TS: p.ts, V: p.pending[0]}) {
			return false
		}
		p.pending = p.pending[1:]
	}
	return true
}

func (p *flatMapStage[In, Out]) Process(_ int, in *dag.Inbox) error {
	if !p.drain() {
		return nil
	}
	items := dag.Items[Timed[In]](in)
	for i, it := range items {
		p.pending, p.ts = p.fn(it.V), it.TS
		if !p.drain() {
			in.Consume(i + 1)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *flatMapStage[In, Out]) Complete() (bool, error) { return p.drain(), nil }

// Peek calls fn with every item and passes it on unchanged: for logging and
// debugging.
func Peek[T any](s Stage[T], fn func(T)) Stage[T] {
	return mapNamed(s, "peek", func(v T) T { fn(v); return v })
}

// Merge joins stages of the same item type into one.
func Merge[T any](stages ...Stage[T]) Stage[T] {
	if len(stages) == 0 {
		panic("pipeline: Merge of no stages")
	}
	inputs := make([]*node, len(stages))
	for i, s := range stages {
		inputs[i] = s.n
	}
	n := stages[0].n.p.add("merge", inputs, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &passStage[T]{} })
		for i := range inputs {
			c.input(n, i, i)
		}
		return nil
	}
	return newStage[T](n)
}

// Rebalance spreads items over every instance of the next stage in the
// cluster, in turn: for a stage whose work is uneven across members.
func Rebalance[T any](s Stage[T]) Stage[T] {
	n := s.n.p.add("rebalance", []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &passStage[T]{} })
		c.input(n, 0, 0).distributed()
		return nil
	}
	return newStage[T](n)
}

// RebalanceBy sends items with equal keys to the same instance in the
// cluster: the instance on the member owning the key's partition.
func RebalanceBy[T any, K comparable](s Stage[T], key func(T) K) Stage[T] {
	n := s.n.p.add("rebalance", []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &passStage[T]{} })
		e := c.input(n, 0, 0)
		e.distributed()
		e.partitionBy(partitionByValue(key))
		return nil
	}
	return newStage[T](n)
}

// partitionByValue adapts a key function on items to the edge carrying them.
func partitionByValue[T any, K comparable](key func(T) K) func(dag.Edge[Timed[T]]) {
	return func(e dag.Edge[Timed[T]]) {
		dag.PartitionBy(e, func(t Timed[T]) K { return key(t.V) })
	}
}

// passStage passes items on unchanged.
type passStage[T any] struct {
	out *fanout[T]
}

func (p *passStage[T]) Init(ctx *dag.Context) (err error) {
	p.out, err = outputs[T](ctx)
	return err
}

func (p *passStage[T]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[T]](in)
	for i, it := range items {
		if !p.out.Offer(it) {
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *passStage[T]) Complete() (bool, error) { return true, nil }
