package sources_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type mapParams struct {
	Map string
	Bag string
}

func init() {
	dag.Register("sources.test.map", func(p mapParams) (*dag.DAG, error) {
		pl := pipeline.New()
		entries := pipeline.ReadFrom(pl, sources.Map[string, int](p.Map), pipeline.NoTimestamps[pipeline.KV[string, int]]())
		pipeline.WriteTo(entries, collect[pipeline.KV[string, int]](p.Bag))
		return pl.Compile()
	})
}

// fillMap puts n entries "key-i" -> i into a map and returns them.
func fillMap(t *testing.T, m *member.Member, name string, n int) []pipeline.KV[string, int] {
	t.Helper()
	entries := map[string]int{}
	var want []pipeline.KV[string, int]
	for i := range n {
		k := fmt.Sprintf("key-%d", i)
		entries[k] = i
		want = append(want, pipeline.KV[string, int]{Key: k, Value: i})
	}
	require.NoError(t, grid.GetMap[string, int](m, name).PutAll(ctxT(t, time.Minute), entries))
	return want
}

// requireReadByOwners checks that the items of a bag were read on the
// members owning their keys' partitions in table, the partition table when
// the job started (the sink is on the member of the source instance that
// read them). If the table has changed since (a member of an overloaded
// machine was taken for dead), which partitions the job read is not known:
// the check is skipped.
func requireReadByOwners(t *testing.T, c *clustertest.Cluster, table *partition.Table, bag string, keyOf func(any) string) {
	t.Helper()
	if now := c.Members()[0].Partitions(); now.Version() != table.Version() {
		t.Logf("the partition table changed during the job (v%d, now v%d): who read what is not checked", table.Version(), now.Version())
		return
	}
	names := map[string]string{}
	for _, m := range c.Members() {
		names[m.ID()] = m.Name()
	}
	for _, l := range bagFor(bag).labelled() {
		key := keyOf(l.v)
		kb, err := codec.For[string]().Encode(key)
		require.NoError(t, err)
		owner := names[table.Owner(keys.Partition(kb, table.Count()))]
		require.Equal(t, owner, l.member, "read on the member owning %s", key)
	}
}

// TestMap reads every entry of a map exactly once, each on the member that
// owns its partition (the sink is on the member of the source instance
// that read it), with and without a processing guarantee (which sorts
// each partition to save positions).
func TestMap(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ms := c.Members()
		want := fillMap(t, ms[0], "vehicles", 3000)
		for _, g := range []dag.Guarantee{dag.None, dag.ExactlyOnce} {
			t.Run(g.String(), func(t *testing.T) {
				bag := newBag(t)
				table := ms[0].Partitions()
				require.NoError(t, run(t, ms[len(ms)-1], "sources.test.map", mapParams{Map: "vehicles", Bag: bag}, dag.WithGuarantee(g)))
				requireOnce(t, want, values[pipeline.KV[string, int]](bag))
				requireReadByOwners(t, c, table, bag, func(v any) string { return v.(pipeline.KV[string, int]).Key })
				require.Len(t, readers(bag), len(ms), "every member reads its share")
			})
		}
	})
}

// TestMapEmpty reads a map that was never written as empty.
func TestMapEmpty(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	bag := newBag(t)
	require.NoError(t, run(t, c.Members()[0], "sources.test.map", mapParams{Map: "never-written", Bag: bag}))
	require.Zero(t, bagFor(bag).len())
}
