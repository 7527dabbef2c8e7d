package dag

// Ready-made processors for the common stateless steps. The pipeline API
// builds on them; they are also handy in hand-written DAGs.

// SliceP supplies instances that together emit items once: instance i
// emits the items whose index modulo the total parallelism is i.
func SliceP[T any](items []T) Supplier {
	return func() Processor { return &sliceSource[T]{items: items} }
}

type sliceSource[T any] struct {
	items []T
	out   *Emitter[T]
	next  int
	step  int
}

func (s *sliceSource[T]) Init(ctx *Context) error {
	var err error
	s.out, err = Output[T](ctx, 0)
	s.next, s.step = ctx.GlobalIndex, ctx.TotalParallelism
	return err
}

func (s *sliceSource[T]) Process(int, *Inbox) error { return nil }

func (s *sliceSource[T]) Complete() (bool, error) {
	for ; s.next < len(s.items); s.next += s.step {
		if !s.out.Offer(s.items[s.next]) {
			return false, nil
		}
	}
	return true, nil
}

// GeneratorP supplies instances that together generate the sequence
// numbers 0, 1, 2, ... once in the cluster, as SliceP shares a slice:
// instance i (Context.GlobalIndex) of T (Context.TotalParallelism) calls
// next with i, i+T, i+2T, ... until next returns false, emitting the values
// it produces. Each instance stops at its own first false, so next must end
// the sequence alike for all: once false for n, false for every higher n
// (n < count, or true forever for an endless source).
//
// For a generator that runs the whole sequence on every instance, say so
// with GeneratorPerInstanceP.
func GeneratorP[T any](next func(ctx *Context, n int64) (T, bool)) Supplier {
	return func() Processor { return &generator[T]{next: next, shared: true} }
}

// GeneratorPerInstanceP supplies instances that each call next with a
// counter of their own (0, 1, 2, ... on every instance) until it returns
// false: N instances generate the sequence N times, unless next tells them
// apart by their Context (GlobalIndex, MemberIndex).
func GeneratorPerInstanceP[T any](next func(ctx *Context, n int64) (T, bool)) Supplier {
	return func() Processor { return &generator[T]{next: next} }
}

type generator[T any] struct {
	next       func(*Context, int64) (T, bool)
	shared     bool // GeneratorP: the instances share the sequence
	ctx        *Context
	out        *Emitter[T]
	n          int64
	step       int64
	pending    T
	hasPending bool
	finished   bool
}

func (g *generator[T]) Init(ctx *Context) error {
	g.ctx = ctx
	g.step = 1
	if g.shared {
		g.n, g.step = int64(ctx.GlobalIndex), int64(max(ctx.TotalParallelism, 1))
	}
	var err error
	g.out, err = Output[T](ctx, 0)
	return err
}

func (g *generator[T]) Process(int, *Inbox) error { return nil }

func (g *generator[T]) Complete() (bool, error) {
	if g.hasPending {
		if !g.out.Offer(g.pending) {
			return false, nil
		}
		g.hasPending = false
	}
	if g.finished {
		return true, nil
	}
	for range 4 {
		if buf := g.out.Space(1024); buf != nil {
			k := 0
			for ; k < len(buf); k++ {
				v, ok := g.next(g.ctx, g.n)
				if !ok {
					g.finished = true
					break
				}
				buf[k] = v
				g.n += g.step
			}
			g.out.Commit(k)
			if g.finished {
				return true, nil
			}
			if k == 0 {
				return false, nil // full
			}
			continue
		}
		for range 1024 {
			v, ok := g.next(g.ctx, g.n)
			if !ok {
				return true, nil
			}
			g.n += g.step
			if !g.out.Offer(v) {
				g.pending, g.hasPending = v, true
				return false, nil
			}
		}
	}
	return false, nil
}

// MapP supplies processors applying fn to every item.
func MapP[In, Out any](fn func(In) Out) Supplier {
	return func() Processor { return &mapP[In, Out]{fn: fn} }
}

type mapP[In, Out any] struct {
	fn  func(In) Out
	out *Emitter[Out]
}

func (p *mapP[In, Out]) Init(ctx *Context) error {
	var err error
	p.out, err = Output[Out](ctx, 0)
	return err
}

func (p *mapP[In, Out]) Process(_ int, in *Inbox) error {
	items := Items[In](in)
	for len(items) > 0 {
		buf := p.out.Space(len(items))
		if buf == nil {
			break // partitioned output: one Offer per item
		}
		if len(buf) == 0 {
			return nil // full
		}
		for i := range buf {
			buf[i] = p.fn(items[i])
		}
		p.out.Commit(len(buf))
		in.Consume(len(buf))
		items = items[len(buf):]
	}
	for i, v := range items {
		if !p.out.Offer(p.fn(v)) {
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *mapP[In, Out]) Complete() (bool, error) { return true, nil }

// FilterP supplies processors passing on the items keep accepts.
func FilterP[T any](keep func(T) bool) Supplier {
	return func() Processor { return &filterP[T]{keep: keep} }
}

type filterP[T any] struct {
	keep func(T) bool
	out  *Emitter[T]
}

func (p *filterP[T]) Init(ctx *Context) error {
	var err error
	p.out, err = Output[T](ctx, 0)
	return err
}

func (p *filterP[T]) Process(_ int, in *Inbox) error {
	items := Items[T](in)
	for len(items) > 0 {
		buf := p.out.Space(len(items))
		if buf == nil {
			break // partitioned output: one Offer per item
		}
		if len(buf) == 0 {
			return nil // full
		}
		k, i := 0, 0
		for ; i < len(items) && k < len(buf); i++ {
			if p.keep(items[i]) {
				buf[k] = items[i]
				k++
			}
		}
		p.out.Commit(k)
		in.Consume(i)
		items = items[i:]
	}
	for i, v := range items {
		if p.keep(v) && !p.out.Offer(v) {
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *filterP[T]) Complete() (bool, error) { return true, nil }

// FlatMapP supplies processors emitting every item fn returns for each
// input item.
func FlatMapP[In, Out any](fn func(In) []Out) Supplier {
	return func() Processor { return &flatMapP[In, Out]{fn: fn} }
}

type flatMapP[In, Out any] struct {
	fn      func(In) []Out
	out     *Emitter[Out]
	pending []Out
}

func (p *flatMapP[In, Out]) Init(ctx *Context) error {
	var err error
	p.out, err = Output[Out](ctx, 0)
	return err
}

func (p *flatMapP[In, Out]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(p.pending[0]) {
			return false
		}
		p.pending = p.pending[1:]
	}
	return true
}

func (p *flatMapP[In, Out]) Process(_ int, in *Inbox) error {
	if !p.drain() {
		return nil
	}
	items := Items[In](in)
	for i, v := range items {
		p.pending = p.fn(v)
		if !p.drain() {
			in.Consume(i + 1)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *flatMapP[In, Out]) Complete() (bool, error) { return p.drain(), nil }

// SinkP supplies processors calling fn with every batch of items; fn must
// not keep the slice. An error fails the job.
func SinkP[T any](fn func(ctx *Context, items []T) error) Supplier {
	return func() Processor { return &sinkP[T]{fn: fn} }
}

type sinkP[T any] struct {
	fn  func(*Context, []T) error
	ctx *Context
}

func (p *sinkP[T]) Init(ctx *Context) error { p.ctx = ctx; return nil }

func (p *sinkP[T]) Process(_ int, in *Inbox) error {
	items := Items[T](in)
	if err := p.fn(p.ctx, items); err != nil {
		return err
	}
	in.Consume(len(items))
	return nil
}

func (p *sinkP[T]) Complete() (bool, error) { return true, nil }
