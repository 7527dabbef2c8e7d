package sources_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type itemsParams struct {
	Items []string
	Bag   string
}

type journalParams struct {
	Map   string
	Start sources.Start
	Bag   string
}

func init() {
	dag.Register("sources.test.items", func(p itemsParams) (*dag.DAG, error) {
		pl := pipeline.New()
		pipeline.WriteTo(pipeline.ReadFrom(pl, sources.Items(p.Items...), pipeline.NoTimestamps[string]()), collect[string](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.journal", func(p journalParams) (*dag.DAG, error) {
		pl := pipeline.New()
		events := pipeline.ReadFrom(pl, sources.MapJournal[string, int](p.Map, p.Start), pipeline.NativeTime[grid.Event[string, int]](0))
		keys := pipeline.Map(events, func(e grid.Event[string, int]) string { return fmt.Sprintf("%s=%d", e.Key, e.Value) })
		pipeline.WriteTo(keys, collect[string](p.Bag))
		return pl.Compile()
	})
}

// TestItems reads every item once, whatever the number of members.
func TestItems(t *testing.T) {
	t.Parallel()
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprint("item ", i))
	}
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.items", itemsParams{Items: items, Bag: bag}))
		requireOnce(t, items, values[string](bag))
	})
}

// TestMapJournal streams a map's changes, each once, on the member owning
// its partition; FromNow skips what happened before the job started.
func TestMapJournal(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ms := c.Members()
		n := ms[0].PartitionCount()
		m := grid.GetMap[string, int](ms[0], "journalled", grid.WithJournal(5000))
		ctx := ctxT(t, time.Minute)
		require.NoError(t, m.Put(ctx, "before", -1))
		oldest, now := newBag(t), newBag(t)
		table := ms[0].Partitions()
		jOldest := submit(t, ms[0], "sources.test.journal", journalParams{Map: "journalled", Start: sources.FromOldest, Bag: oldest})
		jNow := submit(t, ms[0], "sources.test.journal", journalParams{Map: "journalled", Start: sources.FromNow, Bag: now})

		// A FromNow reader places itself at the end of a journal when it
		// first reads it: a round of probes, one in every partition, all
		// seen proves every journal was placed before the round.
		want := []string{"before=-1"}
		round := 0
		require.Eventually(t, func() bool {
			round++
			probes := map[string]int{}
			for _, k := range partitionKeys(n, fmt.Sprintf("probe-%d-", round)) {
				probes[k] = 0
				want = append(want, k+"=0")
			}
			if err := m.PutAll(ctx, probes); err != nil {
				t.Logf("probes: %v", err)
				return false
			}
			got := counts[string](now)
			for r := 1; r < round; r++ {
				if containsAll(got, partitionKeys(n, fmt.Sprintf("probe-%d-", r)), "=0") {
					return true
				}
			}
			return false
		}, 30*time.Second, 50*time.Millisecond)

		var after []string
		for i := range 500 {
			k := fmt.Sprint("k", i)
			require.NoError(t, m.Put(ctx, k, i))
			after = append(after, fmt.Sprintf("%s=%d", k, i))
		}
		want = append(want, after...)
		require.Eventually(t, func() bool {
			return bagFor(oldest).len() >= len(want) || restarted(jOldest)
		}, 30*time.Second, 5*time.Millisecond)
		require.Eventually(t, func() bool {
			return containsAll(counts[string](now), after, "") || restarted(jNow)
		}, 30*time.Second, 5*time.Millisecond)
		if restarted(jOldest) || restarted(jNow) {
			// A member of an overloaded machine was taken for dead: without
			// a processing guarantee, the jobs started again from scratch.
			t.Log("a job restarted: what it read is not checked")
			return
		}
		requireOnce(t, want, values[string](oldest))
		requireReadByOwners(t, c, table, oldest, func(v any) string {
			key, _, _ := strings.Cut(v.(string), "=")
			return key
		})
		require.NotContains(t, values[string](now), "before=-1")
	})
}

// partitionKeys returns a key in every partition: prefix and a number.
func partitionKeys(partitions int, prefix string) []string {
	keyOf := make([]string, partitions)
	for i, found := 0, 0; found < partitions; i++ {
		k := fmt.Sprint(prefix, i)
		kb, _ := codec.For[string]().Encode(k) // a string always encodes
		if p := keys.Partition(kb, partitions); keyOf[p] == "" {
			keyOf[p] = k
			found++
		}
	}
	return keyOf
}

// containsAll reports whether got holds every key of ks followed by
// suffix.
func containsAll(got map[string]int, ks []string, suffix string) bool {
	for _, k := range ks {
		if got[k+suffix] == 0 {
			return false
		}
	}
	return true
}

// restarted reports whether the job has restarted (false if that cannot
// be known now).
func restarted(j *dag.Job) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	i, err := j.Info(ctx)
	return err == nil && i.Restarts > 0
}
