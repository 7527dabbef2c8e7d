package pipeline

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The ranking TopNPerWindow aggregates with is a monoid: however the
// results are split into partial aggregates, and in whatever order, the
// export is the plain ranking of them all.
func TestRankWithTiesSplitsAnyWay(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	start, end := time.Unix(0, 100), time.Unix(0, 200)
	for _, n := range []int{1, 2, 3, 7} {
		op := rankWithTies[string](n, cmp.Compare[int64])
		for range 200 {
			var rs []WindowResult[string, int64]
			for k := range 1 + rng.IntN(30) {
				rs = append(rs, WindowResult[string, int64]{Start: start, End: end, Key: fmt.Sprintf("k%02d", k), Value: rng.Int64N(4)})
			}
			// The plain ranking: by value, then key; rank = 1 + greater ones.
			ref := slices.Clone(rs)
			slices.SortFunc(ref, func(a, b WindowResult[string, int64]) int {
				return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Key, b.Key))
			})
			var want []Ranked[string, int64]
			for _, r := range ref {
				rank := 1
				for _, o := range ref {
					if o.Value > r.Value {
						rank++
					}
				}
				if rank <= n {
					want = append(want, Ranked[string, int64]{Key: r.Key, Value: r.Value, Rank: rank})
				}
			}

			rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
			var parts [][]WindowResult[string, int64]
			for i := 0; i < len(rs); {
				j := i + 1 + rng.IntN(len(rs)-i)
				a := op.Create()
				for _, r := range rs[i:j] {
					a = op.Accumulate(a, r)
				}
				// An early result is a running value: it is not ranked.
				a = op.Accumulate(a, WindowResult[string, int64]{Start: start, End: end, Key: "early", Value: 99, Early: true})
				parts = append(parts, a)
				i = j
			}
			acc := parts[0]
			for _, p := range parts[1:] {
				if rng.IntN(2) == 0 {
					acc = op.Combine(acc, p)
				} else {
					acc = op.Combine(p, acc)
				}
			}
			got := op.Export(acc)
			require.Equal(t, start, got.Start)
			require.Equal(t, end, got.End)
			require.Equal(t, want, got.Entries, "n=%d", n)
		}
	}
}

func TestCompareKeysIsNatural(t *testing.T) {
	t.Parallel()
	require.Positive(t, compareKeys("b", "aa")) // not by encoded length
	require.Negative(t, compareKeys(-5, 3))
	require.Negative(t, compareKeys(uint8(2), uint8(10)))
	require.Negative(t, compareKeys(false, true))
	type named string
	require.Negative(t, compareKeys(named("b"), named("c")))
	type pair struct{ A, B int }
	require.Zero(t, compareKeys(pair{1, 2}, pair{1, 2}))
	require.Equal(t, compareKeys(pair{1, 2}, pair{1, 3}), -compareKeys(pair{1, 3}, pair{1, 2}))
}

// TopN keeps n items, ties at the nth place included in the count; none
// for n <= 0 (it used to panic).
func TestTopNCountsAndZero(t *testing.T) {
	t.Parallel()
	agg := func(op AggregateOp[int, []int, []int], items ...int) []int {
		a, b := op.Create(), op.Create()
		for i, v := range items {
			if i%2 == 0 {
				a = op.Accumulate(a, v)
			} else {
				b = op.Accumulate(b, v)
			}
		}
		return op.Export(op.Combine(a, b))
	}
	require.Equal(t, []int{5}, agg(TopN(1, cmp.Compare[int]), 3, 5, 5, 1))
	require.Equal(t, []int{5, 5}, agg(TopN(2, cmp.Compare[int]), 3, 5, 5, 1))
	require.Equal(t, []int{5, 5, 3}, agg(TopN(3, cmp.Compare[int]), 3, 5, 5, 1))
	require.Empty(t, agg(TopN(0, cmp.Compare[int]), 3, 5, 5, 1))
	require.Empty(t, agg(TopN(-1, cmp.Compare[int]), 3, 5, 5, 1))
}
