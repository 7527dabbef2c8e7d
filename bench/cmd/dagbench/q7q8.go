package main

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Workload 9's queries: NEXMark Q7 (the highest bid of every window) over
// the bids of workload 4, and Q8 (the people who joined and opened an
// auction in the same window) over a stream of people and auctions.
const (
	q7Window = time.Second
	q8Window = time.Second
	// Q8's stream: people join at q8PersonRate and auctions open at
	// q8AuctionRate per simulated second; an auction's seller is one of the
	// q8SellerSpan people who joined last, so about half of them open an
	// auction within the window they joined in.
	q8PersonRate  = 25_000
	q8AuctionRate = 75_000
	q8SellerSpan  = 25_000
)

// q7Result is one line of Q7's output: the highest bid of the tumbling
// window ending at End.
type q7Result struct {
	End int64
	Bid bid
}

// higherBid orders bids by price, then the earlier first: bid times are
// distinct, so the order is total and the highest bid of a window is the
// same whichever instance saw it first.
func higherBid(a, b bid) int {
	if c := cmp.Compare(a.Price, b.Price); c != 0 {
		return c
	}
	return cmp.Compare(b.DateTime, a.DateTime)
}

// q7 adds NEXMark Q7 to a pipeline reading bids: the highest bid of every
// tumbling window, with Jet's maxBy in the form of TopN(1).
func q7(bids pipeline.Stage[bid], size time.Duration) pipeline.Stage[q7Result] {
	top := pipeline.AggregateWindow(pipeline.WindowAll(bids, pipeline.Tumbling(size)), pipeline.TopN(1, higherBid))
	return pipeline.Map(top, func(r pipeline.WindowResult[struct{}, []bid]) q7Result {
		return q7Result{End: r.End.UnixNano(), Bid: r.Value[0]}
	})
}

// q7Plain is Q7 over bids 0..n-1 of the simulated stream in plain Go on one
// goroutine, relying on the stream being in event-time order.
func q7Plain(n, base, rate int64, size time.Duration) []q7Result {
	var out []q7Result
	var cur q7Result
	for i := range n {
		b := bidAt(i, simulatedTime(base, rate, i))
		if fe := frameEnd(b.DateTime, int64(size)); fe != cur.End {
			if i > 0 {
				out = append(out, cur)
			}
			cur = q7Result{End: fe, Bid: b}
		} else if higherBid(b, cur.Bid) > 0 {
			cur.Bid = b
		}
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}

// person is a NEXMark person joining, auction one opening (the fields Q8
// reads).
type person struct {
	ID       int64 `msgpack:"i"`
	State    int64 `msgpack:"s"`
	DateTime int64 `msgpack:"t"`
}

type auction struct {
	ID       int64 `msgpack:"i"`
	Seller   int64 `msgpack:"s"`
	Reserve  int64 `msgpack:"r"`
	DateTime int64 `msgpack:"t"`
}

// personAt is person i of Q8's stream: person i joins at base + i/rate.
func personAt(i, base int64) person {
	return person{ID: i, State: int64(mix(uint64(i)) % 50), DateTime: simulatedTime(base, q8PersonRate, i)}
}

// auctionAt is auction j of Q8's stream; its seller is one of the
// q8SellerSpan people who joined last.
func auctionAt(j, base int64) auction {
	ts := simulatedTime(base, q8AuctionRate, j)
	joined := (ts-base)*q8PersonRate/int64(time.Second) + 1 // people who joined by ts
	h := mix(uint64(j) ^ 0x5bd1e995)
	seller := max(joined-1-int64(h%q8SellerSpan), 0)
	return auction{ID: j, Seller: seller, Reserve: 100 + int64((h>>32)%1000), DateTime: ts}
}

// q8Split is how many people and auctions n events of Q8 hold: one person
// for three auctions.
func q8Split(n int64) (people, auctions int64) { return n / 4, n - n/4 }

// q8Result is one line of Q8's output: a person who joined, and opened an
// auction, in the tumbling window ending at End.
type q8Result struct {
	End    int64
	Person int64
	State  int64
}

func compareQ8(a, b q8Result) int {
	if c := cmp.Compare(a.End, b.End); c != 0 {
		return c
	}
	return cmp.Compare(a.Person, b.Person)
}

// q8 adds NEXMark Q8 to a pipeline: a window join of the people with the
// auctions they opened, on the person's ID, one result for each person who
// has both in a window.
func q8(people pipeline.Stage[person], auctions pipeline.Stage[auction], size time.Duration) pipeline.Stage[q8Result] {
	return pipeline.WindowJoin(
		pipeline.GroupBy(people, func(p person) int64 { return p.ID }),
		pipeline.GroupBy(auctions, func(a auction) int64 { return a.Seller }),
		pipeline.Tumbling(size),
		func(id, _, end int64, ps []person, as []auction) []q8Result {
			if len(ps) == 0 || len(as) == 0 {
				return nil
			}
			return []q8Result{{End: end, Person: id, State: ps[0].State}}
		})
}

// q8Plain is Q8 over n events in plain Go on one goroutine: the people of
// each window in a map, then the auctions of the window looked up in it;
// its output in the order of compareQ8.
func q8Plain(n, base int64, size time.Duration) []q8Result {
	people, auctions := q8Split(n)
	sz := int64(size)
	var out []q8Result
	joined := map[int64]int64{} // person -> state, of the current window
	found := map[int64]bool{}
	var i, j int64
	for i < people || j < auctions {
		// The next window: the one of the earliest event left.
		var end int64
		switch {
		case i < people && j < auctions:
			end = frameEnd(min(personAt(i, base).DateTime, auctionAt(j, base).DateTime), sz)
		case i < people:
			end = frameEnd(personAt(i, base).DateTime, sz)
		default:
			end = frameEnd(auctionAt(j, base).DateTime, sz)
		}
		clear(joined)
		clear(found)
		for ; i < people; i++ {
			p := personAt(i, base)
			if p.DateTime >= end {
				break
			}
			joined[p.ID] = p.State
		}
		first := len(out)
		for ; j < auctions; j++ {
			a := auctionAt(j, base)
			if a.DateTime >= end {
				break
			}
			if st, ok := joined[a.Seller]; ok && !found[a.Seller] {
				found[a.Seller] = true
				out = append(out, q8Result{End: end, Person: a.Seller, State: st})
			}
		}
		slices.SortFunc(out[first:], compareQ8)
	}
	return out
}

// q8Params and q7Params are the jobs' parameters.
type q7Params struct {
	N, Base, Rate int64
	Size, Lag     time.Duration
	Run           string
}

type q8Params struct {
	N, Base   int64
	Size, Lag time.Duration
	Run       string
}

func init() {
	dag.Register("dagbench.q7", func(p q7Params) (*dag.DAG, error) {
		pl := pipeline.New()
		bids := readBids(pl, simulatedBids(p.N, p.Base, p.Rate), p.Lag, p.Size)
		pipeline.WriteTo(q7(bids, p.Size), collectorSink[q7Result](p.Run))
		return pl.Compile()
	})
	dag.Register("dagbench.q8", func(p q8Params) (*dag.DAG, error) {
		pl := pipeline.New()
		people, auctions := q8Split(p.N)
		ps := pipeline.ReadFrom(pl, simulated("people", people, func(i int64) person { return personAt(i, p.Base) }),
			pipeline.EventTime(func(v person) time.Time { return time.Unix(0, v.DateTime) }, p.Lag).Throttle(p.Size))
		as := pipeline.ReadFrom(pl, simulated("auctions", auctions, func(j int64) auction { return auctionAt(j, p.Base) }),
			pipeline.EventTime(func(v auction) time.Time { return time.Unix(0, v.DateTime) }, p.Lag).Throttle(p.Size))
		pipeline.WriteTo(q8(ps, as, p.Size), collectorSink[q8Result](p.Run))
		return pl.Compile()
	})
}

// simulated is a bounded source of items 0..n-1 of a stream, item i made by
// at: instance g of t reads items g, g+t, ..., as simulatedBids does.
func simulated[T any](name string, n int64, at func(int64) T) pipeline.Source[T] {
	return pipeline.NewSource(name, func(ctx *dag.Context) (pipeline.Reader[T], error) {
		return &generatedReader[T]{n: n, at: at, next: int64(ctx.GlobalIndex), step: int64(ctx.TotalParallelism)}, nil
	})
}

type generatedReader[T any] struct {
	n          int64
	at         func(int64) T
	next, step int64
}

func (r *generatedReader[T]) Read(buf []pipeline.SourceItem[T], limit int) ([]pipeline.SourceItem[T], bool, error) {
	for k := 0; k < limit && r.next < r.n; k++ {
		buf = append(buf, pipeline.SourceItem[T]{V: r.at(r.next)})
		r.next += r.step
	}
	return buf, r.next >= r.n, nil
}

func (r *generatedReader[T]) Partitions() int { return 1 }
func (r *generatedReader[T]) Close() error    { return nil }

// collected holds the output of runs by run ID, of any type: every member
// of the cluster runs in this process, so every sink instance reaches it.
var collected = struct {
	sync.Mutex
	runs map[string][]any
}{runs: map[string][]any{}}

// collectorSink adds a run's results to collected under run.
func collectorSink[T any](run string) pipeline.Sink[T] {
	return pipeline.NewSink("collect", func(*dag.Context) (pipeline.SinkWriter[T], error) {
		return collector[T]{run: run}, nil
	})
}

type collector[T any] struct{ run string }

func (c collector[T]) Write(items []T) error {
	collected.Lock()
	defer collected.Unlock()
	for _, it := range items {
		collected.runs[c.run] = append(collected.runs[c.run], it)
	}
	return nil
}

func (collector[T]) Close() error { return nil }

// takeCollected removes and returns a run's results, sorted by compare.
func takeCollected[T any](run string, compare func(a, b T) int) []T {
	collected.Lock()
	got := collected.runs[run]
	delete(collected.runs, run)
	collected.Unlock()
	out := make([]T, len(got))
	for i, v := range got {
		out[i] = v.(T)
	}
	slices.SortFunc(out, compare)
	return out
}
