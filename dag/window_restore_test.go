package dag_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/member"
)

// gates hold how many events a gated source may read, by name: the test
// opens them step by step.
var gates sync.Map // name -> *atomic.Int64

func gate(name string) *atomic.Int64 {
	g, _ := gates.LoadOrStore(name, new(atomic.Int64))
	return g.(*atomic.Int64)
}

// gatedReader reads events up to its gate, and saves its position: a
// replayable source a test can stop in the middle of a stream.
type gatedReader struct {
	evs  []event
	next int
	gate *atomic.Int64
}

func (r *gatedReader) Read(buf []dag.SourceItem[event], limit int) ([]dag.SourceItem[event], bool, error) {
	end := min(int(r.gate.Load()), len(r.evs))
	for ; r.next < end && limit > 0; r.next, limit = r.next+1, limit-1 {
		buf = append(buf, dag.SourceItem[event]{V: r.evs[r.next]})
	}
	return buf, r.next == len(r.evs), nil
}

func (r *gatedReader) Partitions() int { return 1 }
func (r *gatedReader) Close() error    { return nil }

func (r *gatedReader) Positions() (map[string][]byte, error) {
	return map[string][]byte{"0": binary.AppendUvarint(nil, uint64(r.next))}, nil
}

func (r *gatedReader) Seek(positions map[string][]byte) error {
	if pos, ok := positions["0"]; ok {
		n, k := binary.Uvarint(pos)
		if k <= 0 {
			return errors.New("gated source: bad position")
		}
		r.next = int(n)
	}
	return nil
}

type restoreParams struct {
	Events []event
	Kind   string
	Op     string
	Early  bool
	Lag    time.Duration
	Gate   string
	Bag    string
}

func init() {
	dag.Register("test.window.restore", func(p restoreParams) (*dag.DAG, error) {
		pl := dag.NewPipeline()
		src := dag.NewSource("gated", func(*dag.Context) (dag.Reader[event], error) {
			return &gatedReader{evs: p.Events, gate: gate(p.Gate)}, nil
		}, dag.SourceParallelism(1), dag.Replayable())
		// No idle marks while the gate is shut: the stream just pauses.
		ts := dag.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, p.Lag).Throttle(time.Nanosecond).IdleTimeout(time.Hour)
		def := windowDef(p.Kind)
		if p.Early {
			def = def.EarlyResults(time.Millisecond)
		}
		w := dag.Window(dag.GroupBy(dag.ReadFrom(pl, src, ts), func(e event) string { return e.Key }), def)
		results := aggregate(w, p.Op)
		if p.Early {
			results = dag.Filter(results, func(s string) bool { return !containsEarly(s) })
		}
		dag.WriteTo(results, collect[string](p.Bag))
		return pl.Compile()
	})
}

func containsEarly(s string) bool {
	var start, end int64
	var key, early string
	_, _ = fmt.Sscan(s, &start, &end, &key, &early)
	return early == "true"
}

// TestWindowRestoreMidWindow suspends a windowed job (a final snapshot)
// while windows are open, some of them sliding windows already partly
// emitted, resumes it, and checks the results equal the reference model:
// none lost, none emitted twice.
func TestWindowRestoreMidWindow(t *testing.T) {
	c := clustertest.Start(t, 1, member.Config{})
	const lag = 20 * time.Millisecond
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		kind, op string
		early    bool
	}{
		{"sliding", "count", false},
		{"sliding", "custom", false}, // a user op with Deduct
		{"sliding", "list", false},   // no Deduct
		{"tumbling", "sum", false},
		{"sliding", "count", true},
		{"session", "count", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s/early=%v", tc.kind, tc.op, tc.early), func(t *testing.T) {
			// Disorder within the lag only: no event is late, so the
			// reference needs no watermark.
			evs := generate(rng, 600, lag/2)
			want, late := reference(evs, tc.kind, tc.op, lag)
			require.Empty(t, late)
			half := len(evs) / 2
			high := int64(-1 << 63)
			for _, e := range evs[:half] {
				high = max(high, e.TS)
			}
			closedBefore := 0 // results the first half closes
			for _, r := range want {
				var start, end int64
				_, err := fmt.Sscan(r, &start, &end)
				require.NoError(t, err)
				if end <= high-int64(lag) {
					closedBefore++
				}
			}
			require.Positive(t, closedBefore)
			require.Less(t, closedBefore, len(want))

			ctx := ctxT(t, 60*time.Second)
			g, bag := newBag(t), newBag(t)
			gate(g).Store(int64(half))
			job, err := dag.Submit(ctx, c.Members()[0], "test.window.restore",
				restoreParams{Events: evs, Kind: tc.kind, Op: tc.op, Early: tc.early, Lag: lag, Gate: g, Bag: bag},
				dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour), dag.WithLocalParallelism(2))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(bagFor(bag).all()) >= closedBefore },
				30*time.Second, 5*time.Millisecond, "the first half's windows never closed")
			require.NoError(t, job.Suspend(ctx))
			require.Eventually(t, func() bool {
				st, err := job.Status(ctx)
				return err == nil && st == dag.Suspended
			}, 30*time.Second, 5*time.Millisecond)

			gate(g).Store(int64(len(evs)))
			require.NoError(t, job.Resume(ctx))
			require.NoError(t, job.Wait(ctx))
			info, err := job.Info(ctx)
			require.NoError(t, err)
			require.Positive(t, info.RestoredFrom, "resumed from the snapshot")

			var got []string
			for _, v := range bagFor(bag).all() {
				got = append(got, v.(string))
			}
			sort.Strings(got)
			require.Equal(t, want, got)
		})
	}
}
