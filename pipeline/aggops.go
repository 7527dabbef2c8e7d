package pipeline

import (
	"cmp"
	"slices"
)

// AggregateOp describes an aggregation as a monoid: Create makes an empty
// accumulator, Accumulate adds an item, Combine merges two accumulators (so
// aggregation runs in two stages: each member accumulates its items, then
// the partial results for a key meet on one instance), Deduct removes one
// accumulator's items from another (optional: sliding windows then update
// in constant time), Export turns the accumulator into the result.
// Accumulators travel between members and into snapshots, so they must be
// msgpack-encodable (exported fields). The functions must not change memory
// their arguments share with others (append to a copy of a slice): the
// engine keeps and reuses accumulators, such as a sliding window's frames,
// after passing them in.
type AggregateOp[T, A, R any] struct {
	Create     func() A
	Accumulate func(acc A, item T) A
	Combine    func(a, b A) A
	Deduct     func(a, b A) A
	Export     func(acc A) R
}

// Number is what Sum adds.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Count counts items.
func Count[T any]() AggregateOp[T, int64, int64] {
	return AggregateOp[T, int64, int64]{
		Create:     func() int64 { return 0 },
		Accumulate: func(a int64, _ T) int64 { return a + 1 },
		Combine:    func(a, b int64) int64 { return a + b },
		Deduct:     func(a, b int64) int64 { return a - b },
		Export:     func(a int64) int64 { return a },
	}
}

// Sum adds fn of every item.
func Sum[T any, N Number](fn func(T) N) AggregateOp[T, N, N] {
	return AggregateOp[T, N, N]{
		Create:     func() N { return 0 },
		Accumulate: func(a N, t T) N { return a + fn(t) },
		Combine:    func(a, b N) N { return a + b },
		Deduct:     func(a, b N) N { return a - b },
		Export:     func(a N) N { return a },
	}
}

// Extreme is the accumulator of Min and Max: the value, and whether any
// item was seen.
type Extreme[V any] struct {
	V   V    `msgpack:"v"`
	Set bool `msgpack:"s"`
}

// Min keeps the smallest fn of the items (the zero value if there were none).
func Min[T any, V cmp.Ordered](fn func(T) V) AggregateOp[T, Extreme[V], V] {
	return extreme(fn, func(a, b V) bool { return a < b })
}

// Max keeps the largest fn of the items (the zero value if there were none).
func Max[T any, V cmp.Ordered](fn func(T) V) AggregateOp[T, Extreme[V], V] {
	return extreme(fn, func(a, b V) bool { return a > b })
}

func extreme[T any, V any](fn func(T) V, better func(a, b V) bool) AggregateOp[T, Extreme[V], V] {
	pick := func(a, b Extreme[V]) Extreme[V] {
		switch {
		case !a.Set:
			return b
		case !b.Set:
			return a
		case better(b.V, a.V):
			return b
		}
		return a
	}
	return AggregateOp[T, Extreme[V], V]{
		Create:     func() Extreme[V] { return Extreme[V]{} },
		Accumulate: func(a Extreme[V], t T) Extreme[V] { return pick(a, Extreme[V]{V: fn(t), Set: true}) },
		Combine:    pick,
		Export:     func(a Extreme[V]) V { return a.V },
	}
}

// Mean is the accumulator of Average.
type Mean struct {
	Sum   float64 `msgpack:"s"`
	Count int64   `msgpack:"c"`
}

// Average is the arithmetic mean of fn over the items (0 if none).
func Average[T any](fn func(T) float64) AggregateOp[T, Mean, float64] {
	return AggregateOp[T, Mean, float64]{
		Create:     func() Mean { return Mean{} },
		Accumulate: func(a Mean, t T) Mean { return Mean{Sum: a.Sum + fn(t), Count: a.Count + 1} },
		Combine:    func(a, b Mean) Mean { return Mean{Sum: a.Sum + b.Sum, Count: a.Count + b.Count} },
		Deduct:     func(a, b Mean) Mean { return Mean{Sum: a.Sum - b.Sum, Count: a.Count - b.Count} },
		Export: func(a Mean) float64 {
			if a.Count == 0 {
				return 0
			}
			return a.Sum / float64(a.Count)
		},
	}
}

// TopN keeps the n greatest items by compare (largest first), and none
// for n <= 0. It keeps n items at most: of items equal by compare at the
// nth place, it keeps the first to arrive and drops the others, and the
// order items arrive in a distributed job differs between runs. So when it
// matters which, make compare break ties (on another field); to keep every
// item tied at the nth place (SQL's RANK() <= n), rank windowed results
// with TopNPerWindow.
func TopN[T any](n int, compare func(a, b T) int) AggregateOp[T, []T, []T] {
	trim := func(a []T) []T {
		slices.SortStableFunc(a, func(x, y T) int { return compare(y, x) })
		if len(a) > n {
			a = a[:max(n, 0)]
		}
		return a
	}
	return AggregateOp[T, []T, []T]{
		Create: func() []T { return nil },
		Accumulate: func(a []T, t T) []T {
			if len(a) < n {
				return trim(append(a, t))
			}
			if n > 0 && compare(t, a[len(a)-1]) > 0 {
				a[len(a)-1] = t
				return trim(a)
			}
			return a
		},
		Combine: func(a, b []T) []T { return trim(append(slices.Clone(a), b...)) },
		Export:  func(a []T) []T { return slices.Clone(a) },
	}
}

// ToList collects the items.
func ToList[T any]() AggregateOp[T, []T, []T] {
	return AggregateOp[T, []T, []T]{
		Create:     func() []T { return nil },
		Accumulate: func(a []T, t T) []T { return append(a, t) },
		Combine:    func(a, b []T) []T { return append(slices.Clone(a), b...) },
		Export:     func(a []T) []T { return slices.Clone(a) },
	}
}
