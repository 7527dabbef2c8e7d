package sources_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

var ctxT = clustertest.Ctx

// bags gather what the collect sinks of jobs receive, by a name the job's
// parameters carry.
var (
	bags    sync.Map // name -> *bag
	bagSeqs atomic.Int64
)

type bag struct {
	mu    sync.Mutex
	items []labelled
}

// labelled is an item with the member whose sink wrote it.
type labelled struct {
	member string
	v      any
}

// newBag returns the name of a fresh bag, dropped at the end of the test.
func newBag(t testing.TB) string {
	name := fmt.Sprintf("%s#%d", t.Name(), bagSeqs.Add(1))
	t.Cleanup(func() { bags.Delete(name) })
	return name
}

func bagFor(name string) *bag {
	b, _ := bags.LoadOrStore(name, &bag{})
	return b.(*bag)
}

func (b *bag) add(member string, v any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items = append(b.items, labelled{member, v})
}

func (b *bag) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

func (b *bag) labelled() []labelled {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]labelled(nil), b.items...)
}

// values returns the items of a bag as Ts.
func values[T any](name string) []T {
	var out []T
	for _, l := range bagFor(name).labelled() {
		out = append(out, l.v.(T))
	}
	return out
}

// counts returns how many times each item is in the bag.
func counts[T comparable](name string) map[T]int {
	out := map[T]int{}
	for _, v := range values[T](name) {
		out[v]++
	}
	return out
}

// collect is a sink adding what it receives to a bag.
func collect[T any](name string) pipeline.Sink[T] {
	return pipeline.NewSink("collect", func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		return bagWriter[T]{b: bagFor(name), member: ctx.MemberName()}, nil
	})
}

type bagWriter[T any] struct {
	b      *bag
	member string
}

func (w bagWriter[T]) Write(items []T) error {
	for _, it := range items {
		w.b.add(w.member, it)
	}
	return nil
}

func (w bagWriter[T]) Close() error { return nil }

// onClusters starts a cluster of 1 and one of 3 members and runs fn on each, as
// subtests named by the size.
func onClusters(t *testing.T, fn func(t *testing.T, c *clustertest.Cluster)) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-members", n), func(t *testing.T) {
			fn(t, clustertest.Start(t, n, member.Config{}))
		})
	}
}

// run submits a job and waits for its end, returning its error.
func run[P any](t *testing.T, m *member.Member, job string, params P, opts ...dag.JobOption) error {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	j, err := dag.Submit(ctx, m, job, params, opts...)
	require.NoError(t, err)
	return j.Wait(ctx)
}

// submit submits a job and cancels it at the end of the test.
func submit[P any](t *testing.T, m *member.Member, job string, params P, opts ...dag.JobOption) *dag.Job {
	t.Helper()
	j, err := dag.Submit(ctxT(t, time.Minute), m, job, params, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Cancel(ctx)
		_ = j.Wait(ctx)
	})
	return j
}

// counter sums a processor counter over the job's running instances.
func counter(t *testing.T, j *dag.Job, name string) int64 {
	t.Helper()
	ms, err := j.Metrics(ctxT(t, 10*time.Second))
	require.NoError(t, err)
	var n int64
	for _, m := range ms {
		n += m.Counters[name]
	}
	return n
}

// requireOnce checks that got holds every item of want exactly once, and
// nothing else, reporting a few differences rather than both lists.
func requireOnce[T comparable](t *testing.T, want, got []T) {
	t.Helper()
	n := map[T]int{}
	for _, v := range got {
		n[v]++
	}
	var problems []string
	for _, v := range want {
		switch c := n[v]; c {
		case 1:
		case 0:
			problems = append(problems, fmt.Sprintf("%v missing", v))
		default:
			problems = append(problems, fmt.Sprintf("%v %d times", v, c))
		}
		delete(n, v)
	}
	for v, c := range n {
		problems = append(problems, fmt.Sprintf("%v unexpected (%d times)", v, c))
	}
	if len(problems) > 0 {
		t.Fatalf("%d of %d items differ (got %d), e.g.: %v", len(problems), len(want), len(got), problems[:min(len(problems), 10)])
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func sinksMap[K comparable, V any](name string) pipeline.Sink[pipeline.KV[K, V]] {
	return sinks.Map[K, V](name)
}
