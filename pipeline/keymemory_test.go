package pipeline_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// keysReader emits n strings, one new key in every 1024 and 64 keys that
// recur otherwise (so every member receives full batches), then stays
// open: the job keeps its state.
type keysReader struct{ next, n int }

func (r *keysReader) Read(buf []pipeline.SourceItem[string], limit int) ([]pipeline.SourceItem[string], bool, error) {
	for ; r.next < r.n && limit > 0; r.next, limit = r.next+1, limit-1 {
		k := fmt.Sprintf("common-%d", r.next%64)
		if r.next%1024 == 0 {
			k = fmt.Sprintf("key-%d", r.next/1024)
		}
		buf = append(buf, pipeline.SourceItem[string]{V: k})
	}
	return buf, false, nil
}

func (r *keysReader) Partitions() int { return 1 }
func (r *keysReader) Close() error    { return nil }

// keyCounts holds how many items the counting sinks received, by name.
var keyCounts sync.Map // name -> *atomic.Int64

func keyCounter(name string) *atomic.Int64 {
	c, _ := keyCounts.LoadOrStore(name, new(atomic.Int64))
	return c.(*atomic.Int64)
}

func counting(name string) pipeline.Sink[string] {
	return pipeline.NewSink("count", func(*dag.Context) (pipeline.SinkWriter[string], error) {
		return countWriter{keyCounter(name)}, nil
	})
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(items []string) error { w.n.Add(int64(len(items))); return nil }
func (w countWriter) Close() error               { return nil }

type keyMemoryParams struct {
	N   int
	Bag string
}

func init() {
	dag.Register("test.key-memory", func(p keyMemoryParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.NewSource("keys", func(ctx *dag.Context) (pipeline.Reader[string], error) {
			if ctx.MemberIndex != 0 {
				return &keysReader{}, nil // one member reads: half the keys cross
			}
			return &keysReader{n: p.N}, nil
		}, pipeline.SourceParallelism(1))
		words := pipeline.ReadFrom(pl, src, pipeline.NoTimestamps[string]())
		// Counted, not kept: a sink keeping the strings would hold their
		// messages itself.
		pipeline.WriteTo(pipeline.Distinct(pipeline.GroupBy(words, func(s string) string { return s })), counting(p.Bag))
		return pl.Compile()
	})
}

// A string key kept in a keyed stage's state must not hold the message it
// arrived in. Decoded strings share their message's memory; the 20000 new
// keys here, half of them from the other member, held 30-35 MB of messages
// that way; copied as they enter the state, the heap grows by 3-4 MB.
func TestKeysInStateDoNotHoldTheirMessages(t *testing.T) {
	if raceDetector {
		// 20M items take minutes under the detector, and its shadow memory
		// makes the heap figure meaningless; the test without it covers this.
		t.Skip("measures heap growth over 20M items: not under the race detector")
	}
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, time.Minute)
	const keys = 20000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	p := keyMemoryParams{N: keys * 1024, Bag: newBag(t)}
	job, err := dag.Submit(ctx, c.Members()[0], "test.key-memory", p)
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(ctx) })
	distinct := func() int { return int(keyCounter(p.Bag).Load()) }
	if !assert.Eventually(t, func() bool { return distinct() == keys+64 }, time.Minute, 10*time.Millisecond) {
		inf, _ := job.Info(ctx)
		t.Fatalf("%d distinct keys of %d; the job is %s %s", distinct(), keys+64, inf.Status, inf.Error)
	}
	grew := int64(heap()) - int64(before)
	t.Logf("heap grew by %.1f MB with %d keys in state", float64(grew)/1e6, keys)
	require.Less(t, grew, int64(15e6), "the keys in state hold the messages they arrived in")
}
