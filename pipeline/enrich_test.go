package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type order struct {
	ID      int
	Product int
	Driver  int
	TS      int64
}

type product struct {
	ID   int
	Name string
}

type driver struct {
	ID   int
	Name string
}

type joinParams struct {
	Orders   []order
	Products []product
	Drivers  []driver
	Bag      string
	Mode     string
}

func init() {
	dag.Register("test.joins", func(p joinParams) (*dag.DAG, error) {
		pl := pipeline.New()
		orders := pipeline.ReadFrom(pl, sources.Items(p.Orders...), pipeline.NoTimestamps[order]())
		products := pipeline.ReadFrom(pl, sources.Items(p.Products...), pipeline.NoTimestamps[product]())
		switch p.Mode {
		case "hash":
			joined := pipeline.HashJoin(orders, products, func(o order) int { return o.Product }, func(pr product) int { return pr.ID },
				func(o order, pr product, ok bool) (string, bool) {
					if !ok {
						return fmt.Sprintf("%d:-", o.ID), true
					}
					return fmt.Sprintf("%d:%s", o.ID, pr.Name), true
				})
			pipeline.WriteTo(joined, collect[string](p.Bag))
		case "hash2":
			drivers := pipeline.ReadFrom(pl, sources.Items(p.Drivers...), pipeline.NoTimestamps[driver]())
			joined := pipeline.HashJoin2(orders, products, func(o order) int { return o.Product }, func(pr product) int { return pr.ID },
				drivers, func(o order) int { return o.Driver }, func(d driver) int { return d.ID },
				func(o order, ps []product, ds []driver) (string, bool) {
					if len(ps) == 0 || len(ds) == 0 {
						return "", false
					}
					return fmt.Sprintf("%d:%s:%s", o.ID, ps[0].Name, ds[0].Name), true
				})
			pipeline.WriteTo(joined, collect[string](p.Bag))
		case "lookup", "lookup-cached":
			join := func(o order, name string, ok bool) (string, bool) {
				if !ok {
					name = "-"
				}
				return fmt.Sprintf("%d:%s", o.ID, name), true
			}
			var st pipeline.Stage[string]
			if p.Mode == "lookup" {
				st = pipeline.LookupMap(orders, "test-products", func(o order) int { return o.Product }, join)
			} else {
				st = pipeline.LookupMapCached(orders, "test-products", func(o order) int { return o.Product }, join, grid.NearCacheConfig{})
			}
			pipeline.WriteTo(st, collect[string](p.Bag))
		case "window-join", "window-join-sliding":
			ts := func(o order) time.Time { return time.Unix(0, o.TS) }
			left := pipeline.ReadFrom(pl, sources.Items(p.Orders...), pipeline.EventTime(ts, time.Hour))
			right := pipeline.ReadFrom(pl, sources.Items(p.Orders...), pipeline.EventTime(ts, time.Hour))
			w := pipeline.Tumbling(time.Second)
			if p.Mode == "window-join-sliding" {
				w = pipeline.Sliding(2*time.Second, 500*time.Millisecond)
			}
			joined := pipeline.WindowJoin(pipeline.GroupBy(left, func(o order) int { return o.Product }), pipeline.GroupBy(right, func(o order) int { return o.Driver }),
				w, func(k int, start, end int64, ls, rs []order) []string {
					return []string{fmt.Sprintf("%d %d %s %s", start, k, orderIDs(ls), orderIDs(rs))}
				})
			pipeline.WriteTo(joined, collect[string](p.Bag))
		}
		return pl.Compile()
	})
}

func joinData(rng *rand.Rand) ([]order, []product, []driver) {
	var products []product
	for i := range 50 {
		if i%7 != 3 { // some products are unknown
			products = append(products, product{ID: i, Name: fmt.Sprintf("p%d", i)})
		}
	}
	var drivers []driver
	for i := range 20 {
		drivers = append(drivers, driver{ID: i, Name: fmt.Sprintf("d%d", i)})
	}
	var orders []order
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 4000 {
		orders = append(orders, order{ID: i, Product: rng.IntN(50), Driver: rng.IntN(20), TS: base + rng.Int64N(int64(10*time.Second))})
	}
	return orders, products, drivers
}

func runJoin(t *testing.T, c *clustertest.Cluster, p joinParams) []string {
	ctx := ctxT(t, 60*time.Second)
	p.Bag = newBag(t)
	job, err := dag.Submit(ctx, c.Members()[1], "test.joins", p)
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	var got []string
	for _, v := range bagFor(p.Bag).All() {
		got = append(got, v.(string))
	}
	sort.Strings(got)
	return got
}

func TestJoinsAndEnrichmentOnThreeMembers(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	orders, products, drivers := joinData(rand.New(rand.NewPCG(5, 6)))
	names := map[int]string{}
	for _, p := range products {
		names[p.ID] = p.Name
	}
	var want []string
	for _, o := range orders {
		n, ok := names[o.Product]
		if !ok {
			n = "-"
		}
		want = append(want, fmt.Sprintf("%d:%s", o.ID, n))
	}
	sort.Strings(want)

	t.Run("hash join", func(t *testing.T) {
		require.Equal(t, want, runJoin(t, c, joinParams{Orders: orders, Products: products, Mode: "hash"}))
	})
	t.Run("hash join of two sides", func(t *testing.T) {
		var want2 []string
		for _, o := range orders {
			if n, ok := names[o.Product]; ok {
				want2 = append(want2, fmt.Sprintf("%d:%s:d%d", o.ID, n, o.Driver))
			}
		}
		sort.Strings(want2)
		require.Equal(t, want2, runJoin(t, c, joinParams{Orders: orders, Products: products, Drivers: drivers, Mode: "hash2"}))
	})
	ctx := ctxT(t, 30*time.Second)
	pm := grid.GetMap[int, string](c.Members()[0], "test-products")
	for _, p := range products {
		require.NoError(t, pm.Put(ctx, p.ID, p.Name))
	}
	for _, mode := range []string{"lookup", "lookup-cached"} {
		t.Run(mode, func(t *testing.T) {
			require.Equal(t, want, runJoin(t, c, joinParams{Orders: orders, Mode: mode}))
		})
	}
	t.Run("window join", func(t *testing.T) {
		require.Equal(t, windowJoinModel(orders, time.Second, time.Second), runJoin(t, c, joinParams{Orders: orders, Mode: "window-join"}))
	})
	t.Run("sliding window join", func(t *testing.T) {
		require.Equal(t, windowJoinModel(orders, 2*time.Second, 500*time.Millisecond), runJoin(t, c, joinParams{Orders: orders, Mode: "window-join-sliding"}))
	})
}

// orderIDs is the sum of the orders' IDs and how many they are: which
// items a window join gave, whatever their order.
func orderIDs(os []order) string {
	sum := 0
	for _, o := range os {
		sum += o.ID
	}
	return fmt.Sprintf("%d/%d", len(os), sum)
}

// windowJoinModel is what the test's window join of orders by product with
// orders by driver gives, computed window by window.
func windowJoinModel(orders []order, size, slide time.Duration) []string {
	type win struct {
		start int64
		key   int
	}
	left, right := map[win][]order{}, map[win][]order{}
	for _, o := range orders {
		// The windows holding o start at the multiples of slide in (TS-size, TS].
		for start := o.TS - o.TS%int64(slide); start > o.TS-int64(size); start -= int64(slide) {
			left[win{start, o.Product}] = append(left[win{start, o.Product}], o)
			right[win{start, o.Driver}] = append(right[win{start, o.Driver}], o)
		}
	}
	keys := map[win]bool{}
	for k := range left {
		keys[k] = true
	}
	for k := range right {
		keys[k] = true
	}
	var want []string
	for k := range keys {
		want = append(want, fmt.Sprintf("%d %d %s %s", k.start, k.key, orderIDs(left[k]), orderIDs(right[k])))
	}
	sort.Strings(want)
	return want
}

// countingService is a fake external service: it records how many calls
// run at once and answers after a random short latency.
type countingService struct {
	current, peak, calls atomic.Int64
	failFirst            sync.Map // item -> already failed once
}

func (s *countingService) call(ctx context.Context, items []int) ([]int, error) {
	n := s.current.Add(1)
	defer s.current.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	s.calls.Add(1)
	select {
	case <-time.After(time.Duration(rand.IntN(300)) * time.Microsecond): // the service's latency
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if items[0]%97 == 0 {
		if _, failed := s.failFirst.LoadOrStore(items[0], true); !failed {
			return nil, errors.New("service busy")
		}
	}
	out := make([]int, len(items))
	for i, v := range items {
		out[i] = v * 10
	}
	return out, nil
}

var services sync.Map // name -> *countingService

type asyncParams struct {
	N         int
	Unordered bool
	Batch     bool
	Service   string
	Bag       string
}

func init() {
	dag.Register("test.async", func(p asyncParams) (*dag.DAG, error) {
		items := make([]int, p.N)
		for i := range items {
			items[i] = i
		}
		v, _ := services.LoadOrStore(p.Service, &countingService{})
		svc := v.(*countingService)
		pl := pipeline.New()
		src := pipeline.ReadFrom(pl, sources.Items(items...), pipeline.NoTimestamps[int]()).LocalParallelism(1)
		cfg := pipeline.AsyncConfig{MaxInFlight: 3, Unordered: p.Unordered, Backoff: time.Millisecond, MaxBatch: 8}
		var out pipeline.Stage[int]
		if p.Batch {
			out = pipeline.MapAsyncBatch(src, cfg, svc.call).LocalParallelism(1)
		} else {
			out = pipeline.MapAsync(src, cfg, func(ctx context.Context, v int) (int, error) {
				r, err := svc.call(ctx, []int{v})
				if err != nil {
					return 0, err
				}
				return r[0], nil
			}).LocalParallelism(1)
		}
		pipeline.WriteTo(out, collect[int](p.Bag).Parallelism(1))
		return pl.Compile()
	})
}

func TestMapAsyncBoundsConcurrencyAndKeepsOrder(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	for _, tc := range []struct {
		name             string
		unordered, batch bool
	}{{"ordered", false, false}, {"unordered", true, false}, {"batched", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, 60*time.Second)
			p := asyncParams{N: 2000, Unordered: tc.unordered, Batch: tc.batch, Service: newBag(t), Bag: newBag(t)}
			job, err := dag.Submit(ctx, c.Members()[0], "test.async", p)
			require.NoError(t, err)
			require.NoError(t, job.Wait(ctx))
			v, _ := services.Load(p.Service)
			svc := v.(*countingService)
			require.LessOrEqual(t, svc.peak.Load(), int64(3), "more calls at once than MaxInFlight")
			require.GreaterOrEqual(t, svc.peak.Load(), int64(2), "calls ran concurrently")
			var got []int
			for _, v := range bagFor(p.Bag).All() {
				got = append(got, v.(int))
			}
			want := make([]int, p.N)
			for i := range want {
				want[i] = i * 10
			}
			if tc.unordered {
				slices.Sort(got)
			}
			require.Equal(t, want, got, "every result once, in order unless unordered")
			if tc.batch {
				require.Less(t, svc.calls.Load(), int64(p.N/2), "items were batched into calls")
			}
		})
	}
}

type sortParams struct {
	Values []int
	Bag    string
}

func init() {
	dag.Register("test.sort", func(p sortParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.ReadFrom(pl, sources.Items(p.Values...), pipeline.NoTimestamps[int]())
		pipeline.WriteTo(pipeline.Sort(src, func(a, b int) int { return a - b }), collect[int](p.Bag).Singleton())
		pipeline.WriteTo(pipeline.AggregateAll(src, pipeline.Sum(func(v int) int { return v })), collect[int](p.Bag+"/sum"))
		return pl.Compile()
	})
}

func TestSortAndAggregateAll(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	rng := rand.New(rand.NewPCG(9, 9))
	values := make([]int, 5000)
	sum := 0
	for i := range values {
		values[i] = rng.IntN(1_000_000)
		sum += values[i]
	}
	ctx := ctxT(t, 60*time.Second)
	bag := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[2], "test.sort", sortParams{Values: values, Bag: bag})
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	var got []int
	for _, v := range bagFor(bag).All() {
		got = append(got, v.(int))
	}
	want := slices.Clone(values)
	slices.Sort(want)
	require.Equal(t, want, got)
	require.Equal(t, []any{sum}, bagFor(bag+"/sum").All())
}
