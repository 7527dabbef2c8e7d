package pipeline_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// gatedItems is a replayable source of items that reads up to the gate
// named name, so a test can hold a join's build side open.
func gatedItems[T any](name string, items []T) pipeline.Source[T] {
	return pipeline.NewSource(name, func(*dag.Context) (pipeline.Reader[T], error) {
		return &itemsReader[T]{items: items, gate: gate(name)}, nil
	}, pipeline.SourceParallelism(1), pipeline.Replayable())
}

// itemsReader reads items up to its gate, and saves its position: a
// replayable source a test can stop in the middle of a stream.
type itemsReader[T any] struct {
	items []T
	next  int
	gate  *atomic.Int64
}

func (r *itemsReader[T]) Read(buf []pipeline.SourceItem[T], limit int) ([]pipeline.SourceItem[T], bool, error) {
	end := min(int(r.gate.Load()), len(r.items))
	for ; r.next < end && limit > 0; r.next, limit = r.next+1, limit-1 {
		buf = append(buf, pipeline.SourceItem[T]{V: r.items[r.next]})
	}
	return buf, r.next == len(r.items), nil
}

func (r *itemsReader[T]) Partitions() int { return 1 }
func (r *itemsReader[T]) Close() error    { return nil }

func (r *itemsReader[T]) Positions() (map[string][]byte, error) {
	return map[string][]byte{"0": binary.AppendUvarint(nil, uint64(r.next))}, nil
}

func (r *itemsReader[T]) Seek(positions map[string][]byte) error {
	if pos, ok := positions["0"]; ok {
		n, k := binary.Uvarint(pos)
		if k <= 0 {
			return errors.New("gated items: bad position")
		}
		r.next = int(n)
	}
	return nil
}

func init() {
	dag.Register("test.join.restore", func(p joinParams) (*dag.DAG, error) {
		pl := pipeline.New()
		orders := pipeline.ReadFrom(pl, gatedItems(p.Bag+"/orders", p.Orders), pipeline.NoTimestamps[order]())
		products := pipeline.ReadFrom(pl, gatedItems(p.Bag+"/products", p.Products), pipeline.NoTimestamps[product]())
		var joined pipeline.Stage[string]
		switch p.Mode {
		case "hash":
			joined = pipeline.HashJoin(orders, products, func(o order) int { return o.Product }, func(pr product) int { return pr.ID },
				func(o order, pr product, ok bool) (string, bool) {
					if !ok {
						return fmt.Sprintf("%d:-", o.ID), true
					}
					return fmt.Sprintf("%d:%s", o.ID, pr.Name), true
				})
		case "hash2":
			drivers := pipeline.ReadFrom(pl, gatedItems(p.Bag+"/drivers", p.Drivers), pipeline.NoTimestamps[driver]())
			joined = pipeline.HashJoin2(orders, products, func(o order) int { return o.Product }, func(pr product) int { return pr.ID },
				drivers, func(o order) int { return o.Driver }, func(d driver) int { return d.ID },
				func(o order, ps []product, ds []driver) (string, bool) {
					if len(ps) == 0 || len(ds) == 0 {
						return "", false
					}
					return fmt.Sprintf("%d:%s:%s", o.ID, ps[0].Name, ds[0].Name), true
				})
		default:
			return nil, fmt.Errorf("mode %q", p.Mode)
		}
		pipeline.WriteTo(joined, collect[string](p.Bag))
		return pl.Compile()
	})
}

// An exactly-once hash join whose build side is still being read takes no
// snapshot (it used to stall: the barrier held the build side, which the
// stream side waits for). Once the build side is read, snapshots start;
// a restart restores the build tables (the two-sided join's used to come
// back empty), and the stream side read after it still finds its matches.
func TestHashJoinSnapshotsAfterItsBuildSideAndRestoresIt(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	orders, products, drivers := joinData(rand.New(rand.NewPCG(5, 6)))
	for _, mode := range []string{"hash", "hash2"} {
		t.Run(mode, func(t *testing.T) {
			ctx := ctxT(t, 2*time.Minute)
			p := joinParams{Orders: orders, Products: products, Drivers: drivers, Mode: mode, Bag: newBag(t)}
			gate(p.Bag + "/products").Store(int64(len(products) / 2))
			gate(p.Bag + "/drivers").Store(int64(len(drivers) / 2))
			job, err := dag.Submit(ctx, ms[1], "test.join.restore", p,
				dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(20*time.Millisecond), dag.WithScaleUpDelay(-1))
			require.NoError(t, err)
			t.Cleanup(func() { _ = job.Cancel(ctx) })
			info := func() dag.JobInfo {
				inf, err := job.Info(ctx)
				require.NoError(t, err)
				return inf
			}

			require.Eventually(t, func() bool { return info().SnapshotsPostponed >= 2 }, time.Minute, 5*time.Millisecond)
			require.Zero(t, info().Snapshots, "a snapshot while the build side is open")

			gate(p.Bag + "/products").Store(int64(len(products)))
			gate(p.Bag + "/drivers").Store(int64(len(drivers)))
			require.Eventually(t, func() bool { return info().Snapshots >= 1 }, time.Minute, 5*time.Millisecond,
				"no snapshot after the build side was read")
			gate(p.Bag + "/orders").Store(int64(len(orders) / 2))
			from := info().Snapshots
			require.Eventually(t, func() bool { return info().Snapshots >= from+2 }, time.Minute, 5*time.Millisecond)

			require.NoError(t, job.Restart(ctx))
			require.Eventually(t, func() bool {
				inf := info()
				return inf.Restarts >= 1 && inf.Status == dag.Running
			}, time.Minute, 5*time.Millisecond)
			require.NotZero(t, info().RestoredFrom, "the job started over instead of restoring a snapshot")
			gate(p.Bag + "/orders").Store(int64(len(orders)))
			require.NoError(t, job.Wait(ctx))

			want := map[string]bool{}
			for _, v := range runJoin(t, c, joinParams{Orders: orders, Products: products, Drivers: drivers, Mode: mode}) {
				want[v] = true
			}
			got := map[string]bool{}
			for _, v := range bagFor(p.Bag).All() {
				got[v.(string)] = true // the sink is at-least-once: repeats are expected
			}
			require.Equal(t, sortedKeys(want), sortedKeys(got))
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
