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

// Each stripe keeps its own histograms (so that cores counting at once
// share no cache line); addTo sums them all, counts and latencies.
func TestOpStatsSumsStripes(t *testing.T) {
	t.Parallel()
	o := newOpStats()
	for i := range 3 {
		st := &o.stripes[i]
		for range latencySample {
			st.n[1].Add(1)
		}
		o.end(1, opStart{stripe: st, at: time.Since(statsEpoch) - time.Millisecond})
	}
	var ms MapStats
	o.addTo(&ms)
	if ms.Ops[1] != 3*latencySample {
		t.Errorf("ops %d, want %d", ms.Ops[1], 3*latencySample)
	}
	var samples int64
	for _, n := range ms.Latency[1] {
		samples += n
	}
	if samples != 3 || ms.LatencySum[1] < 3*time.Millisecond {
		t.Errorf("samples %d sum %v, want 3 and at least 3ms", samples, ms.LatencySum[1])
	}
	for i := range 3 {
		if o.stripes[i].hist.Load() == nil {
			t.Errorf("stripe %d has no histograms", i)
		}
	}
	if o.stripes[3].hist.Load() != nil {
		t.Error("a stripe that timed nothing allocated histograms")
	}
}
