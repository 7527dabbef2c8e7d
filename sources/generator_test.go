package sources_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type genParams struct {
	Rate  int64
	Limit int64 // 0: none
	Start time.Time
	Bag   string
}

func (p genParams) options() []sources.GeneratorOption {
	var opts []sources.GeneratorOption
	if p.Limit > 0 {
		opts = append(opts, sources.Limit(p.Limit))
	}
	if !p.Start.IsZero() {
		opts = append(opts, sources.StartAt(p.Start))
	}
	return opts
}

func init() {
	dag.Register("sources.test.generator", func(p genParams) (*dag.DAG, error) {
		pl := pipeline.New()
		xs := pipeline.ReadFrom(pl, sources.Generator(p.Rate, func(seq int64) int64 { return seq * 10 }, p.options()...), pipeline.NoTimestamps[int64]())
		pipeline.WriteTo(xs, collect[int64](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.itemstream", func(p genParams) (*dag.DAG, error) {
		pl := pipeline.New()
		xs := pipeline.ReadFrom(pl, sources.ItemStream(p.Rate, p.options()...), pipeline.NativeTime[sources.StreamItem](0))
		pipeline.WriteTo(xs, collect[sources.StreamItem](p.Bag))
		return pl.Compile()
	})
}

// TestGeneratorLimit generates each sequence number below the limit
// exactly once, on any number of members, then ends.
func TestGeneratorLimit(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.generator", genParams{Limit: 10_000, Bag: bag}))
		want := make([]int64, 10_000)
		for i := range want {
			want[i] = int64(i) * 10
		}
		requireOnce(t, want, values[int64](bag))
		require.Len(t, readers(bag), len(c.Members()), "every member generates its share")
	})
}

// TestItemStreamTimestamps stamps item s at start + s/rate: with a start
// in the past, the stream catches up at once, with the times it would have
// had.
func TestItemStreamTimestamps(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.itemstream", genParams{Rate: 1000, Limit: 2000, Start: start, Bag: bag}))
		items := values[sources.StreamItem](bag)
		require.Len(t, items, 2000)
		seen := map[int64]bool{}
		for _, it := range items {
			require.False(t, seen[it.Seq], "item %d twice", it.Seq)
			seen[it.Seq] = true
			require.Equal(t, start.Add(time.Duration(it.Seq)*time.Millisecond), it.Time().UTC(), "item %d", it.Seq)
		}
	})
}

// TestGeneratorRateLimited counts what a rate-limited generator produced
// by some moment: never more than was due then, in the whole cluster. (The
// bound holds on a slow machine too: slowness only makes fewer.)
func TestGeneratorRateLimited(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	const rate = 200
	start := time.Now()
	bag := newBag(t)
	submit(t, c.Members()[0], "sources.test.itemstream", genParams{Rate: rate, Start: start, Bag: bag})
	var ahead atomic.Value // a count ahead of schedule
	require.Eventually(t, func() bool {
		n := bagFor(bag).len()
		if due := int(time.Since(start).Seconds()*rate) + 1; n > due {
			ahead.CompareAndSwap(nil, fmt.Sprintf("%d items when %d were due", n, due))
		}
		return n >= 60
	}, 30*time.Second, 5*time.Millisecond)
	require.Nil(t, ahead.Load(), "ahead of schedule")
	for _, it := range values[sources.StreamItem](bag) {
		require.Equal(t, start.Add(time.Duration(it.Seq)*time.Second/rate).UnixNano(), it.TS)
	}
}
