package dag_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
)

// A source whose output is full when a snapshot begins holds items it read
// but could not emit yet. It must go on emitting them until it can save its
// positions (which are past them); it used to wait for the save before
// emitting, and the save waited for the emitting, so the job stalled for
// good: seen in the Go Green demo at 20k readings/s on 3 members.
func TestSnapshotOfABackpressuredSource(t *testing.T) {
	t.Parallel()
	const total = 200_000
	started := make(chan struct{}, 1)
	cfg := clustertest.Config(t)
	cfg.Logger = slog.New(&onMessage{Handler: cfg.Logger.Handler(), msg: "snapshot started", ch: started})
	c := clustertest.Start(t, 1, cfg)
	m := c.Members()[0]
	g := &hold{open: make(chan struct{}), entered: make(chan struct{}), last: make(chan struct{}), total: total}
	holds.Store(t.Name(), g)
	t.Cleanup(func() { holds.Delete(t.Name()) })

	ctx := ctxT(t, 2*time.Minute)
	// Snapshots only on request: the export below takes one.
	j, err := dag.Submit(ctx, m, "test.gated", gatedParams{Gate: t.Name(), Total: total},
		dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour))
	require.NoError(t, err)

	// The sink holds its first batch until the source's output is full:
	// the source stops in the middle of what it read, on a watermark it
	// cannot emit.
	<-g.entered
	// The edge's default queue holds 16 elements: here batches of 100 items
	// and the watermarks between them.
	const full = 500
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		ms, err := j.Metrics(ctx)
		require.NoError(t, err)
		for _, pm := range ms {
			if pm.Vertex == "gated" && pm.Queued >= full {
				return true
			}
		}
		return false
	}), "the source never filled the sink's queue")
	for len(started) > 0 {
		<-started
	}
	exported := make(chan error, 1)
	go func() { exported <- j.ExportSnapshot(ctx, t.Name()) }()
	select {
	case <-started:
	case err := <-exported:
		t.Fatalf("export before the snapshot began: %v", err)
	}
	close(g.open)

	require.NoError(t, <-exported, "the snapshot stalls if the source waits for it before emitting what it holds")
	close(g.last)
	require.NoError(t, j.Wait(ctx))
	require.Equal(t, int64(total), g.items.Load(), "every item once")
	require.Equal(t, int64(total)*(total-1)/2, g.sum.Load())
}

type gatedParams struct {
	Gate  string
	Total int
}

// hold holds the sink of test.gated until the test opens it, and its last
// item until the test closes last (the job would end before the snapshot).
type hold struct {
	open, entered, last chan struct{}
	total               int
	once                sync.Once
	items, sum          atomic.Int64
}

var holds sync.Map // test name -> *hold

func init() {
	dag.Register("test.gated", func(p gatedParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.NewSource("counter", func(*dag.Context) (pipeline.Reader[int], error) {
			return &counterReader{total: p.Total}, nil
		}, pipeline.Singleton(), pipeline.Replayable())
		sink := pipeline.NewSink("gated", func(*dag.Context) (pipeline.SinkWriter[int], error) {
			g, _ := holds.Load(p.Gate)
			return gatedWriter{g.(*hold)}, nil
		}).Parallelism(1)
		// An item every millisecond of event time: a watermark to emit
		// every 100 items, in the middle of what the source read.
		ts := pipeline.EventTime(func(v int) time.Time { return time.UnixMilli(int64(v)) }, 0).Throttle(100 * time.Millisecond)
		pipeline.WriteTo(pipeline.ReadFrom(pl, src, ts), sink)
		return pl.Compile()
	})
}

// counterReader reads 0, 1, ... total-1, replayably.
type counterReader struct{ next, total int }

func (r *counterReader) Read(buf []pipeline.SourceItem[int], max int) ([]pipeline.SourceItem[int], bool, error) {
	for ; r.next < r.total && max > 0; r.next, max = r.next+1, max-1 {
		buf = append(buf, pipeline.SourceItem[int]{V: r.next})
	}
	return buf, r.next == r.total, nil
}
func (*counterReader) Partitions() int { return 1 }
func (*counterReader) Close() error    { return nil }

func (r *counterReader) Positions() (map[string][]byte, error) {
	return map[string][]byte{"0": binary.AppendUvarint(nil, uint64(r.next))}, nil
}

func (r *counterReader) Seek(pos map[string][]byte) error {
	if b, ok := pos["0"]; ok {
		n, _ := binary.Uvarint(b)
		r.next = int(n)
	}
	return nil
}

type gatedWriter struct{ g *hold }

func (w gatedWriter) Write(items []int) error {
	w.g.once.Do(func() { close(w.g.entered) })
	<-w.g.open
	for _, v := range items {
		if v == w.g.total-1 {
			<-w.g.last
		}
		w.g.items.Add(1)
		w.g.sum.Add(int64(v))
	}
	return nil
}
func (gatedWriter) Close() error { return nil }

// onMessage signals every record with a message, passing all on.
type onMessage struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }

func (h *onMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *onMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return &onMessage{Handler: h.Handler.WithAttrs(as), msg: h.msg, ch: h.ch}
}

func (h *onMessage) WithGroup(name string) slog.Handler {
	return &onMessage{Handler: h.Handler.WithGroup(name), msg: h.msg, ch: h.ch}
}

// Cancelling or restarting a job interrupts the snapshot in progress
// rather than waiting for it to time out (30 s when a processor cannot
// acknowledge).
func TestCancelAndRestartInterruptASnapshot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action string
		do     func(*dag.Job, context.Context) error
		cause  string
	}{
		{"cancel", (*dag.Job).Cancel, "cancelled"},
		{"restart", (*dag.Job).Restart, "the job restarts"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			started := make(chan struct{}, 1)
			cfg := clustertest.Config(t)
			cfg.Logger = slog.New(&onMessage{Handler: cfg.Logger.Handler(), msg: "snapshot started", ch: started})
			c := clustertest.Start(t, 1, cfg)
			g := &hold{open: make(chan struct{}), entered: make(chan struct{}), last: make(chan struct{}), total: 1 << 40}
			close(g.last)
			holds.Store(t.Name(), g)
			t.Cleanup(func() { holds.Delete(t.Name()) })
			ctx := ctxT(t, 2*time.Minute)
			j, err := dag.Submit(ctx, c.Members()[0], "test.gated", gatedParams{Gate: t.Name(), Total: 1 << 40},
				dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour))
			require.NoError(t, err)
			t.Cleanup(func() { _ = j.Cancel(context.Background()) })
			<-g.entered // the sink holds its first batch: no snapshot can complete

			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(g.open) }) }) // also when the test fails

			exported := make(chan error, 1)
			go func() { exported <- j.ExportSnapshot(ctx, t.Name()) }()
			<-started
			done := make(chan error, 1)
			go func() { done <- tc.do(j, ctx) }()
			select {
			case err = <-exported: // with the sink still held
			case <-time.After(20 * time.Second): // the snapshot's own timeout is 30 s
				t.Fatalf("the %s did not interrupt the snapshot", tc.action)
			}
			require.ErrorContains(t, err, tc.cause, "the snapshot ended by the %s, not by its timeout", tc.action)
			release.Do(func() { close(g.open) })
			require.NoError(t, <-done)
			if tc.action == "cancel" {
				require.ErrorIs(t, j.Wait(ctx), dag.ErrCancelled)
				return
			}
			require.Eventually(t, func() bool {
				inf, err := j.Info(ctx)
				return err == nil && inf.Restarts == 1 && inf.Status == dag.Running
			}, 30*time.Second, 5*time.Millisecond, "the job runs again")
		})
	}
}
