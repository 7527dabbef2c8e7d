package pipeline

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/codec"
)

// Ranked is one key's result in a window, with its rank: 1 plus the number
// of keys whose value is greater, as SQL's RANK() gives it. Keys with equal
// values share a rank, and the next rank skips over them (1, 2, 2, 4).
type Ranked[K comparable, R any] struct {
	Key   K   `msgpack:"k"`
	Value R   `msgpack:"v"`
	Rank  int `msgpack:"r"`
}

// WindowTop is the top of one window, as TopNPerWindow emits it.
type WindowTop[K comparable, R any] struct {
	Start time.Time `msgpack:"s"`
	End   time.Time `msgpack:"e"` // exclusive
	// Entries are the window's results of rank n or better, best first;
	// results of equal value are ordered by key (see TopNPerWindow).
	Entries []Ranked[K, R] `msgpack:"t"`
}

// TopNPerWindow ranks the results of each window of a windowed aggregation
// (AggregateWindow's stage) by value, greatest first by compare, and emits
// one WindowTop per window: the results of rank n or better, every one of
// those tied at the nth place included. That is SQL's RANK() <= n, or FETCH
// FIRST n ROWS WITH TIES, per window: a window can have more than n
// entries, never fewer than n unless it has fewer keys.
//
//	counts := pipeline.AggregateWindow(pipeline.Window(byVehicle, pipeline.Sliding(time.Minute, 10*time.Second)), pipeline.Count[Reading]())
//	top3 := pipeline.TopNPerWindow(counts, 3, cmp.Compare[int64])
//
// It groups results by their window's end, so it serves tumbling and
// sliding windows as they are: there is no need to window the results
// again. (Session windows end per key, so each session end gets a top of
// its own.) A window's top is emitted when the watermark passes the
// window's end, after every result of that window. Early results
// (WindowResult.Early) are left out: only final results are ranked.
//
// The order is deterministic: by value, then, among equal values, by key:
// strings, numbers and booleans in their natural order, other key types by
// their msgpack encoding (its bytes compared).
//
// It is built of the stages it would take by hand: the results, grouped by
// window end, are aggregated again in tumbling windows of one nanosecond
// (a window result's time is its window's end, so each such window holds
// exactly one window's results), then mapped to WindowTop. So it adds the
// vertices of an AggregateWindow ("window-accumulate", "window-combine")
// and a "top-n" one; its state is in snapshots like theirs.
func TopNPerWindow[K comparable, R any](results Stage[WindowResult[K, R]], n int, compare func(a, b R) int) Stage[WindowTop[K, R]] {
	if n <= 0 {
		results.n.p.errs = append(results.n.p.errs, fmt.Errorf("TopNPerWindow: n %d must be positive", n))
	}
	byEnd := GroupBy(results, func(r WindowResult[K, R]) int64 { return r.End.UnixNano() })
	tops := AggregateWindow(Window(byEnd, Tumbling(time.Nanosecond)), rankWithTies[K](n, compare))
	return mapNamed(tops, "top-n", func(r WindowResult[int64, WindowTop[K, R]]) WindowTop[K, R] { return r.Value })
}

// rankWithTies keeps a window's results of rank n or better. A partial
// aggregate can drop what it ranks below n: more results only push ranks
// down.
func rankWithTies[K comparable, R any](n int, compare func(a, b R) int) AggregateOp[WindowResult[K, R], []WindowResult[K, R], WindowTop[K, R]] {
	order := func(a, b WindowResult[K, R]) int {
		if c := compare(b.Value, a.Value); c != 0 {
			return c
		}
		return compareKeys(a.Key, b.Key)
	}
	// trim drops from the sorted a what ranks below n.
	trim := func(a []WindowResult[K, R]) []WindowResult[K, R] {
		if len(a) <= n || n <= 0 {
			return a[:max(min(len(a), n), 0)]
		}
		i := n
		for i < len(a) && compare(a[i].Value, a[n-1].Value) == 0 {
			i++
		}
		clear(a[i:])
		return a[:i]
	}
	return AggregateOp[WindowResult[K, R], []WindowResult[K, R], WindowTop[K, R]]{
		Create: func() []WindowResult[K, R] { return nil },
		Accumulate: func(a []WindowResult[K, R], r WindowResult[K, R]) []WindowResult[K, R] {
			if r.Early {
				return a
			}
			if len(a) >= n && (n <= 0 || compare(r.Value, a[len(a)-1].Value) < 0) {
				return a // below the last kept, which ranks n or better
			}
			r.Key = owned(r.Key)
			i, _ := slices.BinarySearchFunc(a, r, order)
			return trim(slices.Insert(a, i, r))
		},
		Combine: func(a, b []WindowResult[K, R]) []WindowResult[K, R] {
			c := append(slices.Clone(a), b...)
			slices.SortFunc(c, order)
			return trim(c)
		},
		Export: func(a []WindowResult[K, R]) WindowTop[K, R] {
			var top WindowTop[K, R]
			if len(a) == 0 {
				return top
			}
			top.Start, top.End = a[0].Start, a[0].End
			top.Entries = make([]Ranked[K, R], len(a))
			for i, r := range a {
				rank := i + 1
				if i > 0 && compare(r.Value, a[i-1].Value) == 0 {
					rank = top.Entries[i-1].Rank
				}
				top.Entries[i] = Ranked[K, R]{Key: r.Key, Value: r.Value, Rank: rank}
			}
			return top
		},
	}
}

// compareKeys orders keys deterministically: strings, numbers and booleans
// naturally, anything else by its msgpack encoding.
func compareKeys[K comparable](a, b K) int {
	if s, ok := any(a).(string); ok {
		return strings.Compare(s, any(b).(string))
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.IsValid() && vb.IsValid() && va.Kind() == vb.Kind() {
		switch va.Kind() {
		case reflect.String:
			return strings.Compare(va.String(), vb.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return cmp.Compare(va.Int(), vb.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return cmp.Compare(va.Uint(), vb.Uint())
		case reflect.Float32, reflect.Float64:
			return cmp.Compare(va.Float(), vb.Float())
		case reflect.Bool:
			return cmp.Compare(boolInt(va.Bool()), boolInt(vb.Bool()))
		}
	}
	c := codec.For[K]()
	ea, _ := c.Encode(a)
	eb, _ := c.Encode(b)
	return bytes.Compare(ea, eb)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
