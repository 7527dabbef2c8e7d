package pipeline

import (
	"slices"

	"github.com/weir-dev/weir/dag"
)

// Sort emits a batch stage's items in the order compare defines, once its
// input is complete. All items meet on one instance in the cluster.
func Sort[T any](s Stage[T], compare func(a, b T) int) Stage[T] {
	n := s.n.p.add("sort", []*node{s.n}, nil)
	n.par = 1
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &sortP[T]{compare: compare} })
		e := c.input(n, 0, 0)
		e.distributed()
		e.allToOne()
		return nil
	}
	return newStage[T](n)
}

type sortP[T any] struct {
	ctxIndex int
	compare  func(a, b T) int
	items    []Timed[T]
	sorted   bool
	out      *fanout[T]
}

func (p *sortP[T]) Init(ctx *dag.Context) (err error) {
	p.ctxIndex = ctx.GlobalIndex
	p.out, err = outputs[T](ctx)
	return err
}

func (p *sortP[T]) Process(_ int, in *dag.Inbox) error {
	p.items = append(p.items, dag.Items[Timed[T]](in)...)
	in.Consume(in.Len())
	return nil
}

func (p *sortP[T]) Complete() (bool, error) {
	if !p.sorted {
		slices.SortStableFunc(p.items, func(a, b Timed[T]) int { return p.compare(a.V, b.V) })
		p.sorted = true
	}
	for len(p.items) > 0 {
		if !p.out.Offer(p.items[0]) {
			return false, nil
		}
		p.items = p.items[1:]
	}
	return true, nil
}

// AggregateAll aggregates a whole batch stage into one result, in two
// stages: every instance accumulates its items, then one instance combines.
func AggregateAll[T any, A, R any](s Stage[T], op AggregateOp[T, A, R]) Stage[R] {
	one := AggregateByKey(GroupBy(s, func(T) struct{} { return struct{}{} }), op)
	return mapNamed(one, "aggregate-all", func(kv KV[struct{}, R]) R { return kv.Value })
}

// SaveSnapshot saves the items collected so far.
func (p *sortP[T]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	if p.sorted {
		return true, nil
	}
	return true, dag.SaveBroadcast(w, p.ctxIndex, p.items)
}

func (p *sortP[T]) RestoreSnapshot(key, value []byte) error {
	// Every instance gets the broadcast entries; only the one all items
	// meet on (global instance 0) keeps them, or each member's would emit
	// them again.
	if p.ctxIndex != 0 {
		return nil
	}
	_, items, err := dag.LoadEntry[int, []Timed[T]](key, value)
	if err != nil {
		return err
	}
	p.items = append(p.items, items...)
	return nil
}
