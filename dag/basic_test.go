package dag_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// collector gathers what sinks receive, per test, keyed by a name the job's
// parameters carry.
var collected sync.Map // name -> *bag

type bag struct {
	mu    sync.Mutex
	items map[string][]any // instance label -> items
}

var bagSeq atomic.Int64

// newBag returns a fresh bag name for one test run.
func newBag(t testing.TB) string { return fmt.Sprintf("%s#%d", t.Name(), bagSeq.Add(1)) }

func bagFor(name string) *bag {
	b, _ := collected.LoadOrStore(name, &bag{items: map[string][]any{}})
	return b.(*bag)
}

func (b *bag) add(label string, items ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items[label] = append(b.items[label], items...)
}

func (b *bag) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []any
	for _, v := range b.items {
		out = append(out, v...)
	}
	return out
}

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
			bagFor(p.Bag).add(ctx.MemberID(), out...)
			return nil
		}))
		dag.Between[int64](src, double)
		dag.Between[int64](double, sink)
		return d, nil
	})
}

func TestSimpleJobOnOneMember(t *testing.T) {
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, 30*time.Second)
	name := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.simple", simpleParams{N: 10000, Bag: name})
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got := bagFor(name).all()
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
