package sinks_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
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

var ctxT = clustertest.Ctx

// onClusters runs fn as two subtests, on a cluster of one member and on
// one of three.
func onClusters(t *testing.T, fn func(t *testing.T, c *clustertest.Cluster)) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d members", n), func(t *testing.T) {
			fn(t, clustertest.Start(t, n, member.Config{}))
		})
	}
}

// uniqueName returns a name no other test uses: for maps, lists,
// observables and channels.
func uniqueName(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), names.Add(1))
}

var names atomic.Int64

// submit submits a job; the test's cleanup cancels it if it still runs.
func submit[P any](t testing.TB, m *member.Member, name string, params P, opts ...dag.JobOption) *dag.Job {
	t.Helper()
	j, err := dag.Submit(ctxT(t, 30*time.Second), m, name, params, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Cancel(ctx)
	})
	return j
}

// run submits a job and waits for its end, returning its error.
func run[P any](t testing.TB, m *member.Member, name string, params P, opts ...dag.JobOption) error {
	t.Helper()
	return submit(t, m, name, params, opts...).Wait(ctxT(t, 30*time.Second))
}

// info returns a job's info.
func info(t testing.TB, j *dag.Job) dag.JobInfo {
	t.Helper()
	inf, err := j.Info(ctxT(t, 10*time.Second))
	require.NoError(t, err)
	return inf
}

// ints returns 0..n-1.
func ints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// vertexMetrics sums the metrics of the instances of the vertices whose
// name starts with prefix.
func vertexMetrics(t testing.TB, j *dag.Job, prefix string) dag.ProcessorMetrics {
	t.Helper()
	ms, err := j.Metrics(ctxT(t, 10*time.Second))
	require.NoError(t, err)
	sum := dag.ProcessorMetrics{Vertex: prefix, Counters: map[string]int64{}}
	for _, m := range ms {
		if !strings.HasPrefix(m.Vertex, prefix) {
			continue
		}
		sum.ItemsIn += m.ItemsIn
		sum.ItemsOut += m.ItemsOut
		sum.Queued += m.Queued
		for k, v := range m.Counters {
			sum.Counters[k] += v
		}
	}
	return sum
}

// Src is the source of the test jobs: sources.Items of 0..N-1, or, with a
// Gate, the gated source (see gate).
type Src struct {
	N    int
	Gate string
}

func (s Src) read(p *pipeline.Pipeline) pipeline.Stage[int] {
	if s.Gate != "" {
		return pipeline.ReadFrom(p, gated(s.Gate, s.N), pipeline.NoTimestamps[int]())
	}
	return pipeline.ReadFrom(p, sources.Items(ints(s.N)...), pipeline.NoTimestamps[int]())
}

// gate controls a gated source from a test: the source emits 0, 1, 2, ...
// in order, from one reader in the cluster, up to the gate's limit (and up
// to N, if N > 0: then it ends). It is replayable: a job restarted from a
// snapshot resumes after the last item the snapshot covered.
//
// It is not a pipeline.Singleton source: the engine's idle instances of one
// finish at once, and a job with a finished processor completes no more
// snapshots. The gate's other readers read nothing until the gate has
// emitted everything.
type gate struct {
	limit   atomic.Int64
	emitted atomic.Int64 // the highest position reached
	failAt  atomic.Int64 // > 0: the source fails on reaching it
}

var gates sync.Map // name -> *gate

// newGate registers a gate open up to limit; the test's cleanup removes it.
func newGate(t testing.TB, limit int64) (string, *gate) {
	name := uniqueName(t)
	g := &gate{}
	g.limit.Store(limit)
	gates.Store(name, g)
	t.Cleanup(func() { gates.Delete(name) })
	return name, g
}

// open is a gate's limit when it lets everything through.
const open = math.MaxInt64

func gated(name string, n int) pipeline.Source[int] {
	return pipeline.NewSource("gate", func(ctx *dag.Context) (pipeline.Reader[int], error) {
		g, ok := gates.Load(name)
		if !ok {
			return nil, fmt.Errorf("no gate %q", name)
		}
		return &gateReader{g: g.(*gate), n: n, idle: ctx.GlobalIndex != 0}, nil
	}, pipeline.Replayable())
}

type gateReader struct {
	g    *gate
	n    int
	pos  int
	idle bool // not the instance that reads
}

func (r *gateReader) Read(buf []pipeline.SourceItem[int], max int) ([]pipeline.SourceItem[int], bool, error) {
	if r.idle {
		return buf, r.n > 0 && r.g.emitted.Load() >= int64(r.n), nil
	}
	failAt := r.g.failAt.Load()
	if failAt > 0 && int64(r.pos) >= failAt {
		return buf, false, errors.New("the gated source fails, as the test asked")
	}
	limit := r.g.limit.Load()
	if r.n > 0 {
		limit = min(limit, int64(r.n))
	}
	if failAt > 0 {
		limit = min(limit, failAt)
	}
	for ; int64(r.pos) < limit && max > 0; max-- {
		buf = append(buf, pipeline.SourceItem[int]{V: r.pos})
		r.pos++
	}
	for {
		e := r.g.emitted.Load()
		if int64(r.pos) <= e || r.g.emitted.CompareAndSwap(e, int64(r.pos)) {
			break
		}
	}
	return buf, r.n > 0 && r.pos >= r.n, nil
}

func (r *gateReader) Partitions() int { return 1 }
func (r *gateReader) Close() error    { return nil }

func (r *gateReader) Positions() (map[string][]byte, error) {
	if r.idle {
		return nil, nil
	}
	return map[string][]byte{"0": binary.AppendUvarint(nil, uint64(r.pos))}, nil
}

func (r *gateReader) Seek(positions map[string][]byte) error {
	if b, ok := positions["0"]; ok && !r.idle {
		pos, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("gate: bad position")
		}
		r.pos = int(pos)
	}
	return nil
}

// restartMidway drives a job reading a gate of n items through a restart:
// half the items, two snapshots covering them, a quarter more (some of them
// written after the last snapshot), a restart from that snapshot, then the
// rest; it waits for the job to complete.
func restartMidway(t *testing.T, j *dag.Job, g *gate, n int) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	waitSnapshots := func(k uint64) {
		from := info(t, j).Snapshots
		require.Eventually(t, func() bool { return info(t, j).Snapshots >= from+k }, 30*time.Second, 5*time.Millisecond)
	}
	g.limit.Store(int64(n / 2))
	require.Eventually(t, func() bool { return g.emitted.Load() >= int64(n/2) }, 30*time.Second, time.Millisecond)
	waitSnapshots(2)
	g.limit.Store(int64(3 * n / 4))
	require.Eventually(t, func() bool { return g.emitted.Load() >= int64(3*n/4) }, 30*time.Second, time.Millisecond)
	require.NoError(t, j.Restart(ctx))
	require.Eventually(t, func() bool {
		inf := info(t, j)
		return inf.Restarts >= 1 && inf.Status == dag.Running
	}, 30*time.Second, 5*time.Millisecond)
	require.Greater(t, info(t, j).RestoredFrom, uint64(0), "the job started over instead of restoring a snapshot")
	g.limit.Store(open)
	require.NoError(t, j.Wait(ctx))
}

// exactlyOnce is the configuration of the jobs restarted midway.
var exactlyOnce = []dag.JobOption{dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(20 * time.Millisecond), dag.WithScaleUpDelay(-1)}

// sorted returns a sorted copy.
func sorted(s []int) []int { return slices.Sorted(slices.Values(s)) }
