package pipeline_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// gates hold how many events a gated source may read, by name: the test
// opens them step by step.
var gates sync.Map // name -> *atomic.Int64

func gate(name string) *atomic.Int64 {
	g, _ := gates.LoadOrStore(name, new(atomic.Int64))
	return g.(*atomic.Int64)
}

type restoreParams struct {
	Events []event
	Kind   string
	Op     string
	Early  bool
	Lag    time.Duration
	Gate   string
	Bag    string
	// LateBag, when set, collects LateItems.
	LateBag string
}

func init() {
	dag.Register("test.window.restore", func(p restoreParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.NewSource("gated", func(*dag.Context) (pipeline.Reader[event], error) {
			return &itemsReader[event]{items: p.Events, gate: gate(p.Gate)}, nil
		}, pipeline.SourceParallelism(1), pipeline.Replayable())
		// No idle marks while the gate is shut: the stream just pauses.
		ts := pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, p.Lag).Throttle(time.Nanosecond).IdleTimeout(time.Hour)
		def := windowDef(p.Kind)
		if p.Early {
			def = def.EarlyResults(time.Millisecond)
		}
		byKey := func(e event) string { return e.Key }
		if p.Op == "join" {
			// The stream joined with a second reading of itself: each key's
			// items per window, as many on both sides, give its count.
			src2 := pipeline.NewSource("gated2", func(*dag.Context) (pipeline.Reader[event], error) {
				return &itemsReader[event]{items: p.Events, gate: gate(p.Gate)}, nil
			}, pipeline.SourceParallelism(1), pipeline.Replayable())
			joined := pipeline.WindowJoin(pipeline.GroupBy(pipeline.ReadFrom(pl, src, ts), byKey), pipeline.GroupBy(pipeline.ReadFrom(pl, src2, ts), byKey), def,
				func(k string, start, end int64, ls, rs []event) []string {
					if !slices.Equal(ls, rs) {
						return []string{fmt.Sprintf("%d %d %s: %d items on the left, %d on the right", start, end, k, len(ls), len(rs))}
					}
					return []string{fmt.Sprintf("%d %d %s %v %v", start, end, k, false, len(ls))}
				})
			pipeline.WriteTo(joined, collect[string](p.Bag))
			return pl.Compile()
		}
		w := pipeline.Window(pipeline.GroupBy(pipeline.ReadFrom(pl, src, ts), byKey), def)
		results := aggregate(w, p.Op)
		if p.Early {
			results = pipeline.Filter(results, func(s string) bool { return !containsEarly(s) })
		}
		pipeline.WriteTo(results, collect[string](p.Bag))
		if p.LateBag != "" {
			pipeline.WriteTo(pipeline.LateItems(w), collect[event](p.LateBag))
		}
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
	t.Parallel()
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
		{"sliding", "join", false}, // a window join: each key's count, on both sides
		{"tumbling", "join", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s/early=%v", tc.kind, tc.op, tc.early), func(t *testing.T) {
			// Disorder within the lag only: no event is late, so the
			// reference needs no watermark.
			evs := generate(rng, 600, lag/2)
			refOp := tc.op
			if refOp == "join" {
				refOp = "count"
			}
			want, late := reference(evs, tc.kind, refOp, lag)
			require.Empty(t, late)
			half := len(evs) / 2
			closedBefore := closedBy(t, want, evs[:half], lag)
			require.Positive(t, closedBefore)
			require.Less(t, closedBefore, len(want))

			ctx := ctxT(t, 60*time.Second)
			g, bag := newBag(t), newBag(t)
			gate(g).Store(int64(half))
			job, err := dag.Submit(ctx, c.Members()[0], "test.window.restore",
				restoreParams{Events: evs, Kind: tc.kind, Op: tc.op, Early: tc.early, Lag: lag, Gate: g, Bag: bag},
				dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour), dag.WithLocalParallelism(2))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(bagFor(bag).All()) >= closedBefore },
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
			for _, v := range bagFor(bag).All() {
				got = append(got, v.(string))
			}
			sort.Strings(got)
			require.Equal(t, want, got)
		})
	}
}

// TestWindowLateAfterRestore suspends a windowed job after windows have
// closed and resumes it with a stream that opens with events for those
// windows: the restored stage judges them against the watermark it had
// reached, so they are late, counted and routed to LateItems exactly as
// without the suspension, and no window is emitted again or changed.
func TestWindowLateAfterRestore(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	const lag = 20 * time.Millisecond
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kind := range []string{"tumbling", "sliding", "session"} {
		for _, early := range []bool{false, true} {
			for _, lateItems := range []bool{false, true} {
				op := "count"
				if kind == "sliding" && !early {
					op = "list" // no Deduct: windows are combined from frames
				}
				t.Run(fmt.Sprintf("%s/%s/early=%v/lateItems=%v", kind, op, early, lateItems), func(t *testing.T) {
					evs, half := lateAfterRestore(rng, 600, 20, lag)
					want, wantLate := reference(evs, kind, op, lag)
					require.Len(t, wantLate, 20, "the events after the restore for closed windows, and only those, are late")

					ctx := ctxT(t, 60*time.Second)
					g, bag, lateBag := newBag(t), newBag(t), ""
					if lateItems {
						lateBag = newBag(t)
					}
					gate(g).Store(int64(half))
					job, err := dag.Submit(ctx, c.Members()[0], "test.window.restore",
						restoreParams{Events: evs, Kind: kind, Op: op, Early: early, Lag: lag, Gate: g, Bag: bag, LateBag: lateBag},
						dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour), dag.WithLocalParallelism(2))
					require.NoError(t, err)
					closedBefore := closedBy(t, want, evs[:half], lag)
					require.Positive(t, closedBefore)
					require.Eventually(t, func() bool {
						items, _, _ := judged(ctx, job)
						return items == int64(half) && len(bagFor(bag).All()) >= closedBefore
					}, 30*time.Second, 5*time.Millisecond, "the first half never reached the windows")
					require.NoError(t, job.Suspend(ctx))
					require.Eventually(t, func() bool {
						st, err := job.Status(ctx)
						return err == nil && st == dag.Suspended
					}, 30*time.Second, 5*time.Millisecond)

					// All but the last event: the job runs on, so its
					// metrics can be read once the windows took them all.
					gate(g).Store(int64(len(evs) - 1))
					require.NoError(t, job.Resume(ctx))
					require.Eventually(t, func() bool { items, _, _ := judged(ctx, job); return items == int64(len(evs)-1-half) },
						30*time.Second, 5*time.Millisecond, "the resumed job never took the second half")
					_, late, lateFrames := judged(ctx, job)
					require.Equal(t, int64(len(wantLate)), late, "the late events after the restore, counted exactly")
					require.Zero(t, lateFrames, "no frame came after its window")

					gate(g).Store(int64(len(evs)))
					require.NoError(t, job.Wait(ctx))
					var got []string
					for _, v := range bagFor(bag).All() {
						got = append(got, v.(string))
					}
					sort.Strings(got)
					require.Equal(t, want, got, "every window once, none changed by the late events")
					if lateItems {
						var gotLate []event
						for _, v := range bagFor(lateBag).All() {
							gotLate = append(gotLate, v.(event))
						}
						require.ElementsMatch(t, wantLate, gotLate, "late events routed to the side output, exactly")
					}
				})
			}
		}
	}
}

// closedBy counts the results (as reference makes them) of the windows
// that events close: those ending at or before their watermark.
func closedBy(t *testing.T, results []string, evs []event, lag time.Duration) int {
	high := int64(math.MinInt64)
	for _, e := range evs {
		high = max(high, e.TS)
	}
	n := 0
	for _, r := range results {
		var start, end int64
		_, err := fmt.Sscan(r, &start, &end)
		require.NoError(t, err)
		if end <= high-int64(lag) {
			n++
		}
	}
	return n
}

// lateAfterRestore makes n events without late ones, then inserts after
// the first half (where the test suspends the job) `late` events behind the
// first half's watermark, most of them in windows it closed.
func lateAfterRestore(rng *rand.Rand, n, late int, lag time.Duration) (evs []event, half int) {
	onTime := generate(rng, n, lag/2) // disorder within the lag: none late
	half = n / 2
	first, high := onTime[0].TS, onTime[0].TS
	for _, e := range onTime[:half] {
		first, high = min(first, e.TS), max(high, e.TS)
	}
	evs = append(evs, onTime[:half]...)
	for range late {
		evs = append(evs, event{Key: fmt.Sprintf("k%d", rng.IntN(6)), TS: first + rng.Int64N(high-int64(lag)-first), V: rng.Int64N(1000)})
	}
	return append(evs, onTime[half:]...), half
}

// judged sums, over the processors that judge lateness (those with a
// "late" counter), the items they took in this run and those they found
// late; and the frames the combining stage found behind windows emitted.
func judged(ctx context.Context, job *dag.Job) (items, late, lateFrames int64) {
	ms, err := job.Metrics(ctx)
	if err != nil {
		return -1, -1, -1
	}
	for _, m := range ms {
		if n, ok := m.Counters["late"]; ok {
			items += m.ItemsIn
			late += n
		}
		lateFrames += m.Counters["late-frames"]
	}
	return items, late, lateFrames
}
