package pipeline_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type topNParams struct {
	Events []event
	Kind   string // tumbling, sliding
	Early  bool
	Lag    time.Duration
	N      int
	Bag    string
}

func init() {
	dag.Register("test.top-n-per-window", func(p topNParams) (*dag.DAG, error) {
		pl := pipeline.New()
		ts := pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, p.Lag).Throttle(time.Nanosecond)
		src := pipeline.ReadFrom(pl, sources.Items(p.Events...), ts).LocalParallelism(1)
		def := windowDef(p.Kind)
		if p.Early {
			def = def.EarlyResults(time.Millisecond)
		}
		counts := pipeline.AggregateWindow(pipeline.Window(pipeline.GroupBy(src, func(e event) string { return e.Key }), def), pipeline.Count[event]())
		top := pipeline.TopNPerWindow(counts, p.N, cmp.Compare[int64])
		lines := pipeline.FlatMap(top, func(w pipeline.WindowTop[string, int64]) []string {
			var out []string
			for i, e := range w.Entries {
				out = append(out, fmt.Sprintf("%d %d #%d rank=%d %s %d", w.Start.UnixNano(), w.End.UnixNano(), i, e.Rank, e.Key, e.Value))
			}
			return out
		})
		pipeline.WriteTo(lines, collect[string](p.Bag))
		return pl.Compile()
	})
}

// topNReference ranks the windows' counts the reference model computes:
// per window, by count (greatest first) then key, the entries of rank n or
// better (SQL's RANK() <= n); it also reports whether a tie at the nth
// place made some window keep more than n.
func topNReference(evs []event, kind string, lag time.Duration, n int) (lines []string, tied bool) {
	results, late := reference(evs, kind, "count", lag)
	if len(late) > 0 {
		panic("the reference has late events")
	}
	type entry struct {
		key   string
		count int64
	}
	windows := map[[2]int64][]entry{}
	for _, r := range results {
		var start, end, count int64
		var key, early string
		if _, err := fmt.Sscanf(r, "%d %d %s %s %d", &start, &end, &key, &early, &count); err != nil {
			panic(err)
		}
		w := [2]int64{start, end}
		windows[w] = append(windows[w], entry{key, count})
	}
	for w, es := range windows {
		slices.SortFunc(es, func(a, b entry) int {
			if c := cmp.Compare(b.count, a.count); c != 0 {
				return c
			}
			return strings.Compare(a.key, b.key)
		})
		for i, e := range es {
			rank := 1
			for _, o := range es {
				if o.count > e.count {
					rank++
				}
			}
			if rank > n {
				break
			}
			if i >= n {
				tied = true
			}
			lines = append(lines, fmt.Sprintf("%d %d #%d rank=%d %s %d", w[0], w[1], i, rank, e.key, e.count))
		}
	}
	sort.Strings(lines)
	return lines, tied
}

// TopNPerWindow gives, per window of tumbling or sliding windows, the keys
// of rank n or better, ties at the nth place included, in a deterministic
// order: what a plain computation over the same events gives.
func TestTopNPerWindowMatchesReference(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	const disorder = 20 * time.Millisecond
	const lag = 3 * disorder // no event is late: the ranking is under test
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kind := range []string{"tumbling", "sliding"} {
		for _, early := range []bool{false, true} {
			for _, n := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/early=%v/n=%d", kind, early, n), func(t *testing.T) {
					evs := generate(rng, 1500, disorder)
					want, tied := topNReference(evs, kind, lag, n)
					require.True(t, tied, "the test needs ties at the nth place")
					ctx := ctxT(t, time.Minute)
					bag := runUnrestarted(t, ctx, func(bag string) (*dag.Job, error) {
						return dag.Submit(ctx, c.Members()[0], "test.top-n-per-window", topNParams{Events: evs, Kind: kind, Early: early, Lag: lag, N: n, Bag: bag})
					})
					var got []string
					for _, v := range bagFor(bag).All() {
						got = append(got, v.(string))
					}
					sort.Strings(got)
					require.Equal(t, want, got)
				})
			}
		}
	}
}

// runUnrestarted runs a batch job without a processing guarantee, submitted
// by submit with a new bag, until a run completes without a restart, and
// returns that run's bag. Such a job restarts from the beginning when its
// cluster changes, and its sinks then receive output twice, as
// dag.None allows: at load 35 the failure detector took two members of one
// process for dead and back within 100 ms, and a run's windows all came
// twice. A run that restarted says nothing of what the job computes.
func runUnrestarted(t *testing.T, ctx context.Context, submit func(bag string) (*dag.Job, error)) string {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		bag := newBag(t)
		job, err := submit(bag)
		require.NoError(t, err)
		require.NoError(t, job.Wait(ctx))
		info, err := job.Info(ctx)
		require.NoError(t, err)
		if info.Restarts == 0 {
			return bag
		}
		require.Less(t, attempt, attempts, "every run of the job restarted (the cluster kept changing)")
		t.Logf("run %d restarted %d times (the cluster changed); running it again", attempt, info.Restarts)
	}
}

func TestTopNPerWindowRefusesNBelowOne(t *testing.T) {
	t.Parallel()
	pl := pipeline.New()
	src := pipeline.ReadFrom(pl, sources.Items[event](), pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, 0))
	counts := pipeline.AggregateWindow(pipeline.Window(pipeline.GroupBy(src, func(e event) string { return e.Key }), pipeline.Tumbling(time.Second)), pipeline.Count[event]())
	pipeline.WriteTo(pipeline.TopNPerWindow(counts, 0, cmp.Compare[int64]), collect[pipeline.WindowTop[string, int64]]("unused"))
	_, err := pl.Compile()
	require.ErrorContains(t, err, "TopNPerWindow: n 0 must be positive")
}
