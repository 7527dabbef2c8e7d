package main

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	keySize   = 16
	valueSize = 100
)

// dataset is the keys and values every workload reads and writes: key i is
// keySize bytes, value i is valueSize bytes that differ from key to key.
type dataset struct {
	keys   []string
	values [][]byte
}

func newDataset(n int) dataset {
	d := dataset{keys: make([]string, n), values: make([][]byte, n)}
	for i := range n {
		d.keys[i] = key(i)
		d.values[i] = value(i)
	}
	return d
}

// key returns the keySize-byte key number i.
func key(i int) string { return fmt.Sprintf("key-%012d", i) }

// value returns the valueSize-byte value number i.
func value(i int) []byte {
	v := make([]byte, valueSize)
	x := rng(i + 1)
	for j := range v {
		v[j] = byte(x.next())
	}
	return v
}

// rng is a xorshift generator: a few nanoseconds a draw, one per goroutine,
// so picking a key costs the reference and weir the same negligible time.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

// below returns a number in [0, n).
func (r *rng) below(n int) int { return int((r.next() >> 32) * uint64(n) >> 32) }

func seed(i int) rng { return rng(0x9e3779b97f4a7c15 * uint64(i+1)) }

// alternate gives each of runs d in total, in rounds slices taken in turn,
// so that load from outside the benchmark (this machine is shared) falls on
// every run alike rather than on whichever ran when it came.
func alternate(rounds int, d time.Duration, runs ...func(slice time.Duration, round int)) {
	slice := d / time.Duration(rounds)
	for round := range rounds {
		for _, run := range runs {
			run(slice, round)
		}
	}
}

// rate counts operations over the time they took.
type rate struct {
	ops     int64
	elapsed time.Duration
	err     error // the first error
}

func (r rate) perSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r *rate) add(o rate) {
	r.ops += o.ops
	r.elapsed += o.elapsed
	if r.err == nil {
		r.err = o.err
	}
}

// throughput runs op on random indexes in [0, n) from workers goroutines for
// d. Workers check a shared flag between operations, not the clock, so the
// loop adds almost nothing to a nanosecond-scale operation. It stops at the
// first error. The workers carry the profiler labels side and op.
func throughput(side, opName string, workers, n int, d time.Duration, round int, op func(i int) error) rate {
	var stop atomic.Bool
	var total atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	pprof.Do(context.Background(), pprof.Labels("side", side, "op", opName), func(context.Context) {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := seed(round*workers + w)
				ops := int64(0)
				for !stop.Load() {
					if err := op(r.below(n)); err != nil {
						errOnce.Do(func() { firstErr = err })
						stop.Store(true)
					}
					ops++
				}
				total.Add(ops)
			}()
		}
	})
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	wg.Wait()
	timer.Stop()
	return rate{ops: total.Load(), elapsed: time.Since(start), err: firstErr}
}

// kv is what the mixed workload drives: weir through a map handle, redis
// through a client.
type kv interface {
	get(ctx context.Context, key string) error
	put(ctx context.Context, key string, value []byte) error
}

// mixed is the result of mixed Get/Put runs.
type mixed struct {
	rate
	errs int64
	lat  *hdrhistogram.Histogram // nanoseconds
}

func newMixed() *mixed { return &mixed{lat: newLatencyHistogram()} }

// percentile returns a latency percentile in nanoseconds.
func (m *mixed) percentile(q float64) float64 { return float64(m.lat.ValueAtQuantile(q)) }

func newLatencyHistogram() *hdrhistogram.Histogram {
	// 1µs to 10s at 3 significant digits: 0.1% error on any latency.
	return hdrhistogram.New(1000, int64(10*time.Second), 3)
}

// runMixed runs clients goroutines for d, each doing a Get of a random key,
// or a Put (putPercent% of the time) of that key's value, one after the
// other, and adds every operation's latency to res. Errors are counted and
// do not stop the run. The clients carry the profiler label side.
func runMixed(res *mixed, side string, clients int, d time.Duration, round int, data dataset, clientKV func(i int) kv) {
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	var total rate
	pprof.Do(ctx, pprof.Labels("side", side), func(ctx context.Context) {
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := clientKV(c)
				r := seed(round*clients + c)
				lat := newLatencyHistogram()
				var ops, errs int64
				var firstErr error
				for t0 := time.Now(); t0.Before(end); {
					i := r.below(len(data.keys))
					var err error
					if r.below(100) < putPercent {
						err = db.put(ctx, data.keys[i], data.values[i])
					} else {
						err = db.get(ctx, data.keys[i])
					}
					t1 := time.Now()
					_ = lat.RecordValue(int64(t1.Sub(t0)))
					ops++
					if err != nil {
						errs++
						if firstErr == nil {
							firstErr = err
						}
					}
					t0 = t1
				}
				mu.Lock()
				defer mu.Unlock()
				total.add(rate{ops: ops, err: firstErr})
				res.errs += errs
				res.lat.Merge(lat)
			}()
		}
	})
	wg.Wait()
	total.elapsed = time.Since(start)
	res.add(total)
}
