package grid

import (
	"math/bits"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	t.Parallel()
	for _, ns := range []int64{1, 1024, 1025, 4096, 4097, 16384, 16385, int64(time.Second), int64(2 * time.Second)} {
		i := min((bits.Len64(uint64(max(ns-1, 0))>>10)+1)/2, LatencyBuckets)
		if i < LatencyBuckets && time.Duration(ns) > LatencyBound(i) {
			t.Errorf("%d in %d bound %v", ns, i, LatencyBound(i))
		}
		if i > 0 && time.Duration(ns) <= LatencyBound(i-1) {
			t.Errorf("%d in %d but fits %d", ns, i, i-1)
		}
	}
}

// The cost stats add to an operation: one count, and a clock read on one
// in LatencySampling.
func BenchmarkOpStats(b *testing.B) {
	o := newOpStats()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.end(1, o.begin(1))
		}
	})
}
