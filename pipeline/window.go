package pipeline

import (
	"fmt"
	"time"

	"github.com/weir-dev/weir/dag"
)

type winKind uint8

const (
	winSliding winKind = iota // tumbling is sliding with slide == size
	winSession
)

// WindowDef describes how a stream is cut into windows.
type WindowDef struct {
	kind  winKind
	size  int64 // ns
	slide int64
	gap   int64
	early time.Duration
}

// Tumbling windows have a fixed size and neither overlap nor leave gaps:
// [0, size), [size, 2*size), ...
func Tumbling(size time.Duration) WindowDef {
	return WindowDef{kind: winSliding, size: int64(size), slide: int64(size)}
}

// Sliding (hopping) windows of a fixed size start every slide and overlap:
// an item belongs to size/slide windows. size must be a multiple of slide.
func Sliding(size, slide time.Duration) WindowDef {
	return WindowDef{kind: winSliding, size: int64(size), slide: int64(slide)}
}

// Session windows group a key's items separated by less than gap; a
// session ends gap after its last item.
func Session(gap time.Duration) WindowDef { return WindowDef{kind: winSession, gap: int64(gap)} }

// EarlyResults emits, every interval of wall-clock time, the running value
// of every window not yet closed (WindowResult.Early), before the final
// result when the watermark passes the window's end.
func (w WindowDef) EarlyResults(every time.Duration) WindowDef { w.early = every; return w }

func (w WindowDef) validate() error {
	switch {
	case w.kind == winSession && w.gap <= 0:
		return fmt.Errorf("session window gap %v must be positive", time.Duration(w.gap))
	case w.kind == winSliding && (w.size <= 0 || w.slide <= 0):
		return fmt.Errorf("window size %v and slide %v must be positive", time.Duration(w.size), time.Duration(w.slide))
	case w.kind == winSliding && w.size%w.slide != 0:
		return fmt.Errorf("window size %v is not a multiple of its slide %v", time.Duration(w.size), time.Duration(w.slide))
	}
	return nil
}

// WindowResult is the aggregate of one key's items in one window.
type WindowResult[K comparable, R any] struct {
	Start time.Time `msgpack:"s"`
	End   time.Time `msgpack:"e"` // exclusive
	Key   K         `msgpack:"k"`
	Value R         `msgpack:"v"`
	// Early marks a running value emitted before the window closed
	// (EarlyResults); the final result follows.
	Early bool `msgpack:"y,omitempty"`
}

// Windowed is a keyed stage cut into windows.
type Windowed[T any, K comparable] struct {
	k Keyed[T, K]
	w WindowDef
	// agg is the node that detects late items, once AggregateWindow has run.
	agg *windowLink
}

type windowLink struct{ first *node }

// Window cuts a keyed stage into windows. The stage's source needs
// timestamps (EventTime, IngestionTime or NativeTime).
func Window[T any, K comparable](k Keyed[T, K], w WindowDef) Windowed[T, K] {
	return Windowed[T, K]{k: k, w: w, agg: &windowLink{}}
}

// WindowAll cuts a whole stage into windows, all items in one key: the
// aggregation then runs on one instance.
func WindowAll[T any](s Stage[T], w WindowDef) Windowed[T, struct{}] {
	return Window(GroupBy(s, func(T) struct{} { return struct{}{} }), w)
}

// frameAcc is a partial aggregate of one key's items in one frame (a slide
// of time), sent from the accumulating stage to the combining one.
type frameAcc[K comparable, A any] struct {
	Key K     `msgpack:"k"`
	End int64 `msgpack:"e"`
	Acc A     `msgpack:"a"`
}

// AggregateWindow aggregates every key's items in every window, and emits a
// WindowResult per key and window when the watermark passes the window's end
// (and running values before, with EarlyResults).
//
// Items behind the watermark when they reach the aggregation are late: they
// are counted (the "late" counter of the processor's metrics) and dropped,
// or delivered to LateItems.
//
// Tumbling and sliding windows aggregate in two stages: the instances next
// to the input accumulate each key's items per frame (one slide of time),
// and the frames of a key meet on the instance owning the key, which combines
// them into windows; only one accumulator per key and frame crosses the
// network. Session windows and windows with early results aggregate in one
// stage after the partitioned edge.
func AggregateWindow[T any, K comparable, A, R any](w Windowed[T, K], op AggregateOp[T, A, R]) Stage[WindowResult[K, R]] {
	p := w.k.s.n.p
	if err := w.w.validate(); err != nil {
		p.errs = append(p.errs, err)
	}
	if w.w.kind == winSliding && w.w.early == 0 {
		acc := p.add("window-accumulate", []*node{w.k.s.n}, nil)
		acc.build = func(c *compiler) error {
			results := len(acc.consumers)
			c.vertex(acc, func() dag.Processor {
				return &frameAccumulator[T, K, A, R]{key: w.k.key, op: op, w: w.w, results: results}
			})
			c.input(acc, 0, 0)
			return nil
		}
		newStage[frameAcc[K, A]](acc)
		acc.connectLate = lateConnector[T]()
		w.agg.first = acc
		comb := p.add("window-combine", []*node{acc}, nil)
		comb.build = func(c *compiler) error {
			c.vertex(comb, func() dag.Processor {
				return &frameCombiner[K, A, R]{w: w.w, combine: op.Combine, deduct: op.Deduct, export: op.Export}
			})
			keyedInput(c, comb, 0, 0, func(f frameAcc[K, A]) K { return f.Key })
			return nil
		}
		return newStage[WindowResult[K, R]](comb)
	}
	n := p.add("window", []*node{w.k.s.n}, nil)
	n.build = func(c *compiler) error {
		results := len(n.consumers)
		c.vertex(n, func() dag.Processor {
			return &windowP[T, K, A, R]{key: w.k.key, op: op, w: w.w, results: results}
		})
		keyedInput(c, n, 0, 0, w.k.key)
		return nil
	}
	n.connectLate = lateConnector[T]()
	w.agg.first = n
	return newStage[WindowResult[K, R]](n)
}

func lateConnector[T any]() func(from *dag.Vertex, fromOrd int, to *dag.Vertex, toOrd int) edgeConfig {
	return func(from *dag.Vertex, fromOrd int, to *dag.Vertex, toOrd int) edgeConfig {
		return typedEdgeConfig[T]{dag.Connect[Timed[T]](from, fromOrd, to, toOrd)}
	}
}

// LateItems is the stream of the items AggregateWindow found late, instead
// of dropping them. Call it after AggregateWindow on the same Windowed.
func LateItems[T any, K comparable](w Windowed[T, K]) Stage[T] {
	first := w.agg.first
	if first == nil {
		panic("pipeline: LateItems before AggregateWindow")
	}
	p := first.p
	n := &node{p: p, name: p.uniqueName("late-items"), inputs: []*node{first}}
	n.fromOrds = []int{len(first.lateConsumers)}
	n.lateInput = []bool{true}
	first.lateConsumers = append(first.lateConsumers, n)
	p.nodes = append(p.nodes, n)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &passStage[T]{} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[T](n)
}

// frameEnd is the end of the frame (slide) holding time ts.
func frameEnd(ts, slide int64) int64 {
	f := ts - ((ts%slide)+slide)%slide
	return f + slide
}
