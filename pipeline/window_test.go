package pipeline_test

import (
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

type event struct {
	Key string
	TS  int64 // unix ns
	V   int64
}

type windowParams struct {
	Events  []event
	Kind    string // tumbling, sliding, session
	Op      string
	Early   bool
	Lag     time.Duration
	Bag     string
	LateBag string
}

const (
	tumbleSize = 100 * time.Millisecond
	slideSize  = 200 * time.Millisecond
	slideStep  = 50 * time.Millisecond
	sessionGap = 30 * time.Millisecond
)

func windowDef(kind string) pipeline.WindowDef {
	switch kind {
	case "tumbling":
		return pipeline.Tumbling(tumbleSize)
	case "sliding":
		return pipeline.Sliding(slideSize, slideStep)
	}
	return pipeline.Session(sessionGap)
}

// deductSum is a user-defined operation with a deduct.
var deductSum = pipeline.AggregateOp[event, [2]int64, string]{
	Create:     func() [2]int64 { return [2]int64{} },
	Accumulate: func(a [2]int64, e event) [2]int64 { return [2]int64{a[0] + e.V, a[1] + 1} },
	Combine:    func(a, b [2]int64) [2]int64 { return [2]int64{a[0] + b[0], a[1] + b[1]} },
	Deduct:     func(a, b [2]int64) [2]int64 { return [2]int64{a[0] - b[0], a[1] - b[1]} },
	Export:     func(a [2]int64) string { return fmt.Sprintf("%d/%d", a[0], a[1]) },
}

// aggregate runs the named operation over a window stage, formatting
// results as "start end key value" lines.
func aggregate(w pipeline.Windowed[event, string], op string) pipeline.Stage[string] {
	format := func(start, end time.Time, key string, early bool, v any) string {
		return fmt.Sprintf("%d %d %s %v %v", start.UnixNano(), end.UnixNano(), key, early, v)
	}
	switch op {
	case "count":
		return pipeline.Map(pipeline.AggregateWindow(w, pipeline.Count[event]()), func(r pipeline.WindowResult[string, int64]) string {
			return format(r.Start, r.End, r.Key, r.Early, r.Value)
		})
	case "sum":
		return pipeline.Map(pipeline.AggregateWindow(w, pipeline.Sum(func(e event) int64 { return e.V })), func(r pipeline.WindowResult[string, int64]) string {
			return format(r.Start, r.End, r.Key, r.Early, r.Value)
		})
	case "min", "max":
		fn := pipeline.Min(func(e event) int64 { return e.V })
		if op == "max" {
			fn = pipeline.Max(func(e event) int64 { return e.V })
		}
		return pipeline.Map(pipeline.AggregateWindow(w, fn), func(r pipeline.WindowResult[string, int64]) string {
			return format(r.Start, r.End, r.Key, r.Early, r.Value)
		})
	case "average":
		return pipeline.Map(pipeline.AggregateWindow(w, pipeline.Average(func(e event) float64 { return float64(e.V) })), func(r pipeline.WindowResult[string, float64]) string {
			return format(r.Start, r.End, r.Key, r.Early, fmt.Sprintf("%.6f", r.Value))
		})
	case "top3":
		return pipeline.Map(pipeline.AggregateWindow(w, pipeline.TopN(3, func(a, b event) int { return cmpEvents(a, b) })), func(r pipeline.WindowResult[string, []event]) string {
			return format(r.Start, r.End, r.Key, r.Early, fmtEvents(r.Value))
		})
	case "list":
		return pipeline.Map(pipeline.AggregateWindow(w, pipeline.ToList[event]()), func(r pipeline.WindowResult[string, []event]) string {
			v := slices.Clone(r.Value)
			slices.SortFunc(v, cmpEvents)
			return format(r.Start, r.End, r.Key, r.Early, fmtEvents(v))
		})
	case "custom":
		return pipeline.Map(pipeline.AggregateWindow(w, deductSum), func(r pipeline.WindowResult[string, string]) string {
			return format(r.Start, r.End, r.Key, r.Early, r.Value)
		})
	}
	panic("unknown op " + op)
}

func cmpEvents(a, b event) int {
	if a.V != b.V {
		return int(a.V - b.V)
	}
	return int(a.TS - b.TS)
}

func fmtEvents(es []event) string {
	var sb strings.Builder
	for _, e := range es {
		fmt.Fprintf(&sb, "%d@%d,", e.V, e.TS)
	}
	return sb.String()
}

func init() {
	dag.Register("test.window", func(p windowParams) (*dag.DAG, error) {
		pl := pipeline.New()
		ts := pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, p.Lag).Throttle(time.Nanosecond)
		src := pipeline.ReadFrom(pl, sources.Items(p.Events...), ts).LocalParallelism(1)
		def := windowDef(p.Kind)
		if p.Early {
			def = def.EarlyResults(time.Millisecond)
		}
		w := pipeline.Window(pipeline.GroupBy(src, func(e event) string { return e.Key }), def)
		results := aggregate(w, p.Op)
		if !p.Early {
			pipeline.WriteTo(results, collect[string](p.Bag))
		} else {
			// Early results are running values: keep the final ones.
			pipeline.WriteTo(pipeline.Filter(results, func(s string) bool { return !strings.Contains(s, " true ") }), collect[string](p.Bag))
		}
		pipeline.WriteTo(pipeline.LateItems(w), collect[event](p.LateBag))
		return pl.Compile()
	})
}

// generate makes events with bounded disorder, some later than lag.
func generate(rng *rand.Rand, n int, lag time.Duration) []event {
	base := int64(1_700_000_000_000_000_000)
	evs := make([]event, n)
	for i := range evs {
		disorder := rng.Int64N(int64(2 * lag)) // up to twice the lag: some are late
		evs[i] = event{
			Key: fmt.Sprintf("k%d", rng.IntN(6)),
			TS:  base + int64(i)*int64(2*time.Millisecond) - disorder,
			V:   rng.Int64N(1000),
		}
	}
	return evs
}

// reference computes the same windows naively: late events first (behind the
// highest time seen minus the lag), then every window of the others.
func reference(evs []event, kind, op string, lag time.Duration) (results []string, late []event) {
	high := int64(-1 << 63)
	var onTime []event
	for _, e := range evs {
		high = max(high, e.TS)
		if e.TS < high-int64(lag) {
			late = append(late, e)
		} else {
			onTime = append(onTime, e)
		}
	}
	windows := map[[2]int64]map[string][]event{}
	add := func(start, end int64, e event) {
		w := [2]int64{start, end}
		if windows[w] == nil {
			windows[w] = map[string][]event{}
		}
		windows[w][e.Key] = append(windows[w][e.Key], e)
	}
	switch kind {
	case "tumbling", "sliding":
		size, slide := int64(tumbleSize), int64(tumbleSize)
		if kind == "sliding" {
			size, slide = int64(slideSize), int64(slideStep)
		}
		for _, e := range onTime {
			first := e.TS - ((e.TS%slide)+slide)%slide + slide
			for end := first; end < e.TS+size+slide && end-size <= e.TS; end += slide {
				if e.TS >= end-size && e.TS < end {
					add(end-size, end, e)
				}
			}
		}
	case "session":
		byKey := map[string][]event{}
		for _, e := range onTime {
			byKey[e.Key] = append(byKey[e.Key], e)
		}
		for _, es := range byKey {
			sort.Slice(es, func(i, j int) bool { return es[i].TS < es[j].TS })
			start, end := es[0].TS, es[0].TS+int64(sessionGap)
			var cur []event
			flush := func() {
				for _, e := range cur {
					add(start, end, e)
				}
			}
			for _, e := range es {
				if e.TS >= end {
					flush()
					cur, start = nil, e.TS
				}
				cur = append(cur, e)
				end = max(end, e.TS+int64(sessionGap))
			}
			flush()
		}
	}
	for w, keys := range windows {
		for k, es := range keys {
			var v any
			switch op {
			case "count":
				v = len(es)
			case "sum":
				s := int64(0)
				for _, e := range es {
					s += e.V
				}
				v = s
			case "min", "max":
				x := es[0].V
				for _, e := range es {
					if op == "min" {
						x = min(x, e.V)
					} else {
						x = max(x, e.V)
					}
				}
				v = x
			case "average":
				s := 0.0
				for _, e := range es {
					s += float64(e.V)
				}
				v = fmt.Sprintf("%.6f", s/float64(len(es)))
			case "top3", "list":
				sorted := slices.Clone(es)
				if op == "top3" {
					slices.SortFunc(sorted, func(a, b event) int { return cmpEvents(b, a) })
					sorted = sorted[:min(3, len(sorted))]
				} else {
					slices.SortFunc(sorted, cmpEvents)
				}
				v = fmtEvents(sorted)
			case "custom":
				s := int64(0)
				for _, e := range es {
					s += e.V
				}
				v = fmt.Sprintf("%d/%d", s, len(es))
			}
			results = append(results, fmt.Sprintf("%d %d %s false %v", w[0], w[1], k, v))
		}
	}
	sort.Strings(results)
	return results, late
}

func TestWindowsMatchReferenceModel(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	const lag = 20 * time.Millisecond
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kind := range []string{"tumbling", "sliding", "session"} {
		for _, op := range []string{"count", "sum", "min", "max", "average", "top3", "list", "custom"} {
			for _, early := range []bool{false, true} {
				if early && op != "count" && op != "list" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/early=%v", kind, op, early), func(t *testing.T) {
					evs := generate(rng, 1500, lag)
					want, wantLate := reference(evs, kind, op, lag)
					require.NotEmpty(t, wantLate, "the test needs some late events")
					ctx := ctxT(t, 60*time.Second)
					bag, lateBag := newBag(t), newBag(t)
					job, err := dag.Submit(ctx, c.Members()[0], "test.window", windowParams{Events: evs, Kind: kind, Op: op, Early: early, Lag: lag, Bag: bag, LateBag: lateBag})
					require.NoError(t, err)
					require.NoError(t, job.Wait(ctx))
					var got []string
					for _, v := range bagFor(bag).All() {
						got = append(got, v.(string))
					}
					sort.Strings(got)
					require.Equal(t, want, got)
					var late []event
					for _, v := range bagFor(lateBag).All() {
						late = append(late, v.(event))
					}
					require.ElementsMatch(t, wantLate, late, "late events routed to the side output, exactly")
				})
			}
		}
	}
}
