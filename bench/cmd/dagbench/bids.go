package main

import (
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// bid is a NEXMark bid: who offered what price for which auction, when
// (DateTime, unix nanoseconds, is its event time).
type bid struct {
	Auction  int64 `msgpack:"a"`
	Price    int64 `msgpack:"p"`
	Bidder   int64 `msgpack:"b"`
	DateTime int64 `msgpack:"t"`
}

// The auctions bids go to: hotShare percent of bids go to the first
// hotAuctions of them, the rest spread over the others. Some auctions are
// hot, as in NEXMark's generator, so windows have a clear top and every
// frame holds most auctions.
const (
	auctions    = 10_000
	hotAuctions = 1_000
	hotShare    = 90
	bidders     = 100_000
)

// bidAt returns bid number i of the stream, stamped ts. The bid depends on
// i only, so the stream is the same however its indexes are shared out.
func bidAt(i, ts int64) bid {
	h := mix(uint64(i))
	auction := int64((h >> 16) % hotAuctions)
	if h%100 >= hotShare {
		auction = hotAuctions + int64((h>>16)%(auctions-hotAuctions))
	}
	return bid{Auction: auction, Price: 100 + int64((h>>40)%10_000), Bidder: int64((h >> 24) % bidders), DateTime: ts}
}

// mix is splitmix64's finalizer: a few nanoseconds, well spread.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// simulatedTime is the event time of bid i when bids arrive at rate per
// simulated second from base.
func simulatedTime(base, rate, i int64) int64 { return base + i*int64(time.Second)/rate }

func bidTime(b bid) time.Time { return time.Unix(0, b.DateTime) }

func bidAuction(b bid) int64 { return b.Auction }

// simulatedBids is a bounded source of n bids in simulated time: instance g
// of t generates bids g, g+t, g+2t, ..., so its share is in event-time
// order and the instances together generate each bid once.
func simulatedBids(n, base, rate int64) pipeline.Source[bid] {
	return pipeline.NewSource("bids", func(ctx *dag.Context) (pipeline.Reader[bid], error) {
		return &simulatedReader{n: n, base: base, rate: rate, next: int64(ctx.GlobalIndex), step: int64(ctx.TotalParallelism)}, nil
	})
}

type simulatedReader struct {
	n, base, rate int64
	next, step    int64
}

func (r *simulatedReader) Read(buf []pipeline.SourceItem[bid], limit int) ([]pipeline.SourceItem[bid], bool, error) {
	for k := 0; k < limit && r.next < r.n; k++ {
		buf = append(buf, pipeline.SourceItem[bid]{V: bidAt(r.next, simulatedTime(r.base, r.rate, r.next))})
		r.next += r.step
	}
	return buf, r.next >= r.n, nil
}

func (r *simulatedReader) Partitions() int { return 1 }
func (r *simulatedReader) Close() error    { return nil }
