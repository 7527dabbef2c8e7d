package dag_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// slowParams runs a distributed unicast edge from one source on member 1
// to two sink instances on every member. All but the second on member 0
// hold their first batch until the test opens the gate: member 1's own
// instances, so that the source must send the rest to member 0 (it skips
// full queues), and instance 0 on member 0, the slow consumer there.
type slowParams struct {
	N   int64
	Bag string
}

// slowGate holds the slow instances and counts what the free one receives.
type slowGate struct {
	open        chan struct{}
	reached     chan struct{} // closed once the sibling has slowReach items
	reachedOnce sync.Once
	sibling     atomic.Int64
}

// slowReach is what the sibling must receive while the slow instance
// holds its batch. With queues of one batch of 64 items, a receiver that
// waited on the slow instance's full queue would stop after a few batches
// to each: 20 batches is past that bound.
const slowReach = 20 * 64

var slowGates sync.Map // bag -> *slowGate

func slowGateFor(bag string) *slowGate {
	g, _ := slowGates.LoadOrStore(bag, &slowGate{open: make(chan struct{}), reached: make(chan struct{})})
	return g.(*slowGate)
}

func init() {
	dag.Register("test.unicast-slow-consumer", func(p slowParams) (*dag.DAG, error) {
		d := dag.New()
		src := d.AddVertex("source", dag.GeneratorPerInstanceP(func(ctx *dag.Context, n int64) (int64, bool) {
			return n, ctx.MemberIndex == 1 && n < p.N
		})).LocalParallelism(1)
		g := slowGateFor(p.Bag)
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, items []int64) error {
			if ctx.MemberIndex == 1 || ctx.LocalIndex == 0 {
				select {
				case <-g.open:
				case <-ctx.Context().Done():
					return ctx.Context().Err()
				}
			}
			if ctx.MemberIndex == 0 && ctx.LocalIndex == 1 && g.sibling.Add(int64(len(items))) >= slowReach {
				g.reachedOnce.Do(func() { close(g.reached) })
			}
			vs := make([]any, len(items))
			for i, v := range items {
				vs[i] = v
			}
			bagFor(p.Bag).Add("", vs...)
			return nil
		})).LocalParallelism(2)
		dag.Between[int64](src, sink).Distributed().Queue(1, 64)
		return d, nil
	})
}

// A unicast batch arriving from another member goes to a local consumer
// with room: one consumer that stops taking items does not stop the
// receiver from feeding the others, and nothing is lost or doubled.
func TestUnicastSkipsASlowRemoteConsumer(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ctx := ctxT(t, 60*time.Second)
	const n = 60_000
	name := newBag(t)
	g := slowGateFor(name)
	job, err := dag.Submit(ctx, c.Members()[0], "test.unicast-slow-consumer", slowParams{N: n, Bag: name})
	require.NoError(t, err)
	ended := make(chan error, 1)
	go func() { ended <- job.Wait(ctx) }()
	select {
	case <-g.reached:
	case err := <-ended:
		t.Fatalf("the job ended (%v) while one consumer held its batch", err)
	case <-ctx.Done():
		t.Fatalf("the slow consumer's sibling on member 0 received %d items, want %d: the receiver waits on the slow one", g.sibling.Load(), slowReach)
	}
	close(g.open)
	require.NoError(t, <-ended)

	seen := make([]int, n)
	for _, v := range bagFor(name).All() {
		seen[v.(int64)]++
	}
	for i, k := range seen {
		require.Equal(t, 1, k, "item %d received %d times", i, k)
	}
}
