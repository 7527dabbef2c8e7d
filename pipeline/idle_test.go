package pipeline_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// twoPartitions is a streaming source: partition 0 delivers an event every
// millisecond of wall time, partition 1 one event at the start and then
// nothing, like a vehicle that parked.
type twoPartitions struct {
	start time.Time
	sent  int64
	quiet bool
	busy  bool // every Read delivers: event time runs ahead of the clock
}

func (r *twoPartitions) Read(buf []pipeline.SourceItem[event], max int) ([]pipeline.SourceItem[event], bool, error) {
	if !r.quiet {
		r.quiet = true
		buf = append(buf, pipeline.SourceItem[event]{V: event{Key: "parked", TS: r.start.UnixNano()}, Partition: 1})
	}
	due := int64(time.Since(r.start) / time.Millisecond)
	if r.busy {
		due = r.sent + 10
	}
	for ; r.sent < due && len(buf) < max; r.sent++ {
		ts := r.start.Add(time.Duration(r.sent) * time.Millisecond)
		buf = append(buf, pipeline.SourceItem[event]{V: event{Key: "moving", TS: ts.UnixNano(), V: 1}, Partition: 0})
	}
	return buf, false, nil
}

func (r *twoPartitions) Partitions() int { return 2 }
func (r *twoPartitions) Close() error    { return nil }

type idleParams struct {
	Bag   string
	Idle  time.Duration
	Early bool
	Busy  bool
}

func init() {
	dag.Register("test.idle", func(p idleParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.NewSource("two-partitions", func(*dag.Context) (pipeline.Reader[event], error) {
			return &twoPartitions{start: time.Now(), busy: p.Busy}, nil
		}, pipeline.Singleton())
		ts := pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, 10*time.Millisecond).IdleTimeout(p.Idle)
		def := pipeline.Tumbling(50 * time.Millisecond)
		if p.Early {
			def = pipeline.Tumbling(time.Hour).EarlyResults(20 * time.Millisecond)
		}
		w := pipeline.Window(pipeline.GroupBy(pipeline.ReadFrom(pl, src, ts), func(e event) string { return e.Key }), def)
		pipeline.WriteTo(pipeline.AggregateWindow(w, pipeline.Count[event]()), collect[pipeline.WindowResult[string, int64]](p.Bag))
		return pl.Compile()
	})
}

func TestIdlePartitionDoesNotStopWindows(t *testing.T) {
	t.Parallel()
	t.Run("source sometimes without items", func(t *testing.T) { testIdlePartition(t, false) })
	// A quiet partition is idle also when the source always has items of
	// the others to deliver.
	t.Run("source always with items", func(t *testing.T) { testIdlePartition(t, true) })
}

func testIdlePartition(t *testing.T, busy bool) {
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, 60*time.Second)
	bag := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.idle", idleParams{Bag: bag, Idle: 100 * time.Millisecond, Busy: busy})
	require.NoError(t, err)
	// Windows of the moving vehicle keep closing although the parked one's
	// partition delivers nothing: it is marked idle.
	var closed atomic.Int64
	require.Eventually(t, func() bool {
		n := int64(0)
		for _, v := range bagFor(bag).All() {
			if r := v.(pipeline.WindowResult[string, int64]); r.Key == "moving" && !r.Early {
				n++
			}
		}
		closed.Store(n)
		return n >= 10
	}, 30*time.Second, 10*time.Millisecond, "windows stopped closing (%d closed)", closed.Load())
	require.NoError(t, job.Cancel(ctx))
	require.ErrorIs(t, job.Wait(ctx), dag.ErrCancelled)
}

func TestEarlyResults(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 60*time.Second)
	bag := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.idle", idleParams{Bag: bag, Idle: time.Hour, Early: true})
	require.NoError(t, err)
	// An hour-long window cannot close during the test: what arrives are
	// running counts, flagged early, growing.
	var last int64
	require.Eventually(t, func() bool {
		for _, v := range bagFor(bag).All() {
			r := v.(pipeline.WindowResult[string, int64])
			require.True(t, r.Early, "a final result for a window that cannot have closed")
			if r.Key == "moving" {
				last = max(last, r.Value)
			}
		}
		return last >= 100
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, job.Cancel(ctx))
	require.ErrorIs(t, job.Wait(ctx), dag.ErrCancelled)
}
