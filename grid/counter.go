package grid

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// stripedCounter is a counter that goroutines on every P increment at once,
// as near-cache hits do. Each P holds a token naming its stripe (a
// P-local sync.Pool keeps it on the P), and tokens take stripes in turn, so
// no two Ps share a cache line while there are no more Ps than stripes.
//
// xsync.Counter, used before, picks each P's stripe at random among
// GOMAXPROCS stripes: with two Ps they share one half the time, for as long
// as the tokens live, and every hit then moves a cache line between cores,
// which cost a near-cache hit about as much as its lookup.
type stripedCounter struct {
	stripes []paddedCount
	mask    uint32
}

type paddedCount struct {
	n atomic.Int64
	_ [56]byte // a cache line each
}

type stripeToken struct{ idx uint32 }

var (
	stripeTokens sync.Pool // of *stripeToken
	nextStripe   atomic.Uint32
)

func newStripedCounter() *stripedCounter {
	n := 8
	for n < 2*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	return &stripedCounter{stripes: make([]paddedCount, n), mask: uint32(n - 1)}
}

func (c *stripedCounter) inc() {
	t, _ := stripeTokens.Get().(*stripeToken)
	if t == nil {
		t = &stripeToken{idx: nextStripe.Add(1)}
	}
	c.stripes[t.idx&c.mask].n.Add(1)
	stripeTokens.Put(t)
}

// value is the sum of the stripes; increments racing with it may or may not
// be counted.
func (c *stripedCounter) value() int64 {
	var sum int64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
