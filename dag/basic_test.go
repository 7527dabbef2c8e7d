package dag_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

var (
	ctxT   = clustertest.Ctx
	newBag = clustertest.NewBag
	bagFor = clustertest.BagFor
)

type simpleParams struct {
	N   int
	Bag string
}

func init() {
	dag.Register("test.simple", func(p simpleParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorP(func(ctx *dag.Context, n int64) (int64, bool) {
			return n, n < int64(p.N)
		})).LocalParallelism(1)
		double := d.AddVertex("double", dag.MapP(func(v int64) int64 { return 2 * v }))
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, items []int64) error {
			out := make([]any, len(items))
			for i, v := range items {
				out[i] = v
			}
			bagFor(p.Bag).Add(ctx.MemberID(), out...)
			return nil
		}))
		dag.Between[int64](src, double)
		dag.Between[int64](double, sink)
		return d, nil
	})
}

func TestSimpleJobOnOneMember(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	name := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.simple", simpleParams{N: 10000, Bag: name})
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got := bagFor(name).All()
	require.Equal(t, 10000, len(got))
	sum := int64(0)
	for _, v := range got {
		sum += v.(int64)
	}
	require.Equal(t, int64(2*(10000*9999/2)), sum)
	st, err := job.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, dag.Completed, st)
}
