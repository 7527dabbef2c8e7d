package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// What workloads 6 and 7 share: a replayable source of keys spread over the
// grid's partitions, RollingAggregate counting per key (real keyed state,
// saved in every snapshot), and sinks that keep only what the checks need.

// keyCounts is a pipeline counting the items of every key so far: the
// source, GroupBy by the item itself, RollingAggregate(Count), then sink.
func keyCounts(src pipeline.Source[int64], sink pipeline.Sink[pipeline.KV[int64, int64]]) (*dag.DAG, error) {
	pl := pipeline.New()
	items := pipeline.ReadFrom(pl, src, pipeline.NoTimestamps[int64]())
	counts := pipeline.RollingAggregate(pipeline.GroupBy(items, pipeline.Identity[int64]), pipeline.Count[int64]())
	pipeline.WriteTo(counts, sink)
	return pl.Compile()
}

// partitionedKeys is a replayable source of n items: item i belongs to map
// partition i mod the partition count, and its value, which is also its
// key, is i mod keys. Each instance reads the partitions the job assigns it
// (Context.Partitions), so every item is read once whatever the member
// count, and saves the next item of each of them. A bounded source reports
// done after its last item; an unbounded one then stays idle until the job
// is cancelled.
func partitionedKeys(n, keys int64, bounded bool) pipeline.Source[int64] {
	return pipeline.NewSource("keys", func(ctx *dag.Context) (pipeline.Reader[int64], error) {
		r := &keysReader{n: n, keys: keys, bounded: bounded, parts: int64(ctx.PartitionCount())}
		for _, p := range ctx.Partitions() {
			r.own = append(r.own, int64(p))
			r.next = append(r.next, int64(p))
		}
		return r, nil
	}, pipeline.Replayable())
}

type keysReader struct {
	n, keys, parts int64
	bounded        bool
	own            []int64 // the partitions read
	next           []int64 // the index of each one's next item (>= n: finished)
	turn           int     // the partition Read starts from
}

var _ pipeline.Positioned = (*keysReader)(nil)

// Read takes items from one partition after the other, so that a batch
// holds many keys and the instances downstream all get work.
func (r *keysReader) Read(buf []pipeline.SourceItem[int64], limit int) ([]pipeline.SourceItem[int64], bool, error) {
	const perPartition = 128
	left := false
	for tries := 0; tries < len(r.own) && len(buf) < limit; tries++ {
		i := r.turn % len(r.own)
		r.turn++
		for k := 0; k < perPartition && len(buf) < limit && r.next[i] < r.n; k++ {
			buf = append(buf, pipeline.SourceItem[int64]{V: r.next[i] % r.keys})
			r.next[i] += r.parts
		}
	}
	for _, next := range r.next {
		left = left || next < r.n
	}
	return buf, r.bounded && !left, nil
}

func (r *keysReader) Partitions() int { return 1 }
func (r *keysReader) Close() error    { return nil }

func (r *keysReader) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.own))
	for i, p := range r.own {
		out[strconv.FormatInt(p, 10)] = binary.AppendUvarint(nil, uint64(r.next[i]))
	}
	return out, nil
}

func (r *keysReader) Seek(positions map[string][]byte) error {
	for i, p := range r.own {
		pos, ok := positions[strconv.FormatInt(p, 10)]
		if !ok {
			r.next[i] = p // nothing saved for it: from its start
			continue
		}
		next, k := binary.Uvarint(pos)
		if k <= 0 {
			return fmt.Errorf("keys source: bad position for partition %d", p)
		}
		r.next[i] = int64(next)
	}
	return nil
}

// wantCount is how many of items 0..n-1 have key k when item i has key
// i mod keys.
func wantCount(n, keys, k int64) int64 {
	c := n / keys
	if k < n%keys {
		c++
	}
	return c
}

// finalCounts is what one run of workload 6 delivered: every key's last
// running count, and the number of results. Every sink writer adds its
// share when it closes, which is before the job is reported complete.
type finalCounts struct {
	mu      sync.Mutex // guards counts and results
	counts  []int64
	results int64
}

var countRuns sync.Map // run ID -> *finalCounts

// finalCountSink keeps, in each writer, the highest running count of
// every key (keys are 0..keys-1: a slice, not a map, so the sink costs
// little next to the job), and merges them into the run's finalCounts on
// Close.
func finalCountSink(run string, keys int64) pipeline.Sink[pipeline.KV[int64, int64]] {
	return pipeline.NewSink("final-counts", func(*dag.Context) (pipeline.SinkWriter[pipeline.KV[int64, int64]], error) {
		fc, ok := countRuns.Load(run)
		if !ok {
			return nil, fmt.Errorf("no count run %q in this process", run)
		}
		return &finalCountWriter{run: fc.(*finalCounts), counts: make([]int64, keys)}, nil
	})
}

type finalCountWriter struct {
	run     *finalCounts
	counts  []int64
	results int64
}

func (w *finalCountWriter) Write(items []pipeline.KV[int64, int64]) error {
	for _, kv := range items {
		if kv.Key < 0 || kv.Key >= int64(len(w.counts)) {
			return fmt.Errorf("key %d out of range", kv.Key)
		}
		w.counts[kv.Key] = max(w.counts[kv.Key], kv.Value)
	}
	w.results += int64(len(items))
	return nil
}

func (w *finalCountWriter) Close() error {
	w.run.mu.Lock()
	defer w.run.mu.Unlock()
	if w.run.counts == nil {
		w.run.counts = make([]int64, len(w.counts))
	}
	for k, c := range w.counts {
		w.run.counts[k] = max(w.run.counts[k], c)
	}
	w.run.results += w.results
	return nil
}

// checkFinalCounts says how a run's output differs from n items over keys
// keys, or returns "".
func checkFinalCounts(fc *finalCounts, n, keys int64) string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.results != n {
		return fmt.Sprintf("%d results, want one per item (%d)", fc.results, n)
	}
	if int64(len(fc.counts)) != keys {
		return fmt.Sprintf("counts of %d keys, want %d", len(fc.counts), keys)
	}
	for k, c := range fc.counts {
		if want := wantCount(n, keys, int64(k)); c != want {
			return fmt.Sprintf("key %d: final count %d, want %d", k, c, want)
		}
	}
	return ""
}

// resultCounter counts the results of a run of workload 7, by run ID.
var resultCounters sync.Map // run ID -> *atomic.Int64

func countingSink(run string) pipeline.Sink[pipeline.KV[int64, int64]] {
	return pipeline.NewSink("count", func(*dag.Context) (pipeline.SinkWriter[pipeline.KV[int64, int64]], error) {
		c, ok := resultCounters.Load(run)
		if !ok {
			return nil, fmt.Errorf("no counting run %q in this process", run)
		}
		return countingWriter{c.(*atomic.Int64)}, nil
	})
}

type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(items []pipeline.KV[int64, int64]) error {
	w.n.Add(int64(len(items)))
	return nil
}

func (countingWriter) Close() error { return nil }
