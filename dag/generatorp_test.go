package dag_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

type generatorParams struct {
	N           int64
	PerInstance bool
	Bag         string
}

const generatorPar = 3

func init() {
	dag.Register("test.generator", func(p generatorParams) (*dag.DAG, error) {
		d := dag.New()
		next := func(ctx *dag.Context, n int64) (int64, bool) { return n, n < p.N }
		gen := dag.GeneratorP(next)
		if p.PerInstance {
			gen = dag.GeneratorPerInstanceP(next)
		}
		src := d.AddVertex("source", gen).LocalParallelism(generatorPar)
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, items []int64) error {
			out := make([]any, len(items))
			for i, v := range items {
				out[i] = v
			}
			bagFor(p.Bag).Add("", out...)
			return nil
		})).LocalParallelism(2)
		dag.Between[int64](src, sink).Distributed()
		return d, nil
	})
}

// GeneratorP generates every sequence number once in the cluster, whatever
// the members and the parallelism; GeneratorPerInstanceP once per instance.
func TestGeneratorPSharesTheSequence(t *testing.T) {
	t.Parallel()
	const members, n = 3, 10_007 // not a multiple of the 9 instances
	c := clustertest.Start(t, members, member.Config{})
	ctx := ctxT(t, time.Minute)
	// times counts how often each sequence number came, and how many
	// numbers came that often: {want: n} when all is right.
	times := func(perInstance bool) map[int]int {
		bag := newBag(t)
		job, err := dag.Submit(ctx, c.Members()[0], "test.generator", generatorParams{N: n, PerInstance: perInstance, Bag: bag})
		require.NoError(t, err)
		require.NoError(t, job.Wait(ctx))
		info, err := job.Info(ctx)
		require.NoError(t, err)
		require.Zero(t, info.Restarts, "the job ran once")
		seen := map[int64]int{}
		for _, v := range bagFor(bag).All() {
			seen[v.(int64)]++
		}
		hist := map[int]int{}
		for i := range int64(n) {
			hist[seen[i]]++
			delete(seen, i)
		}
		require.Empty(t, seen, "numbers outside the sequence")
		return hist
	}
	require.Equal(t, map[int]int{1: n}, times(false), "each sequence number once")
	require.Equal(t, map[int]int{members * generatorPar: n}, times(true), "each sequence number once per instance")
}
