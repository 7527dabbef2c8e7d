package sinks_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/snapshot"
)

// delta is an input item of the committed-map job: add N to key's total;
// N = 0 removes the key from the updated map.
type delta struct {
	Key string `msgpack:"k"`
	N   int64  `msgpack:"n"`
}

type committedParams struct {
	Src             Src
	Totals, Updated string
}

// committedItems is the input of the committed-map job: the gated source's
// item i is committedItems[i].
var committedBefore, committedAfter = committedInput()
var committedItems = append(committedBefore[:len(committedBefore):len(committedBefore)], committedAfter...)

const committedJob = "sinks_test.committed-maps"

func init() {
	dag.Register(committedJob, func(p committedParams) (*dag.DAG, error) {
		pl := pipeline.New()
		in := pipeline.Map(p.Src.read(pl), func(i int) delta { return committedItems[i] })
		totals := pipeline.RollingAggregate(pipeline.GroupBy(in, func(d delta) string { return d.Key }), pipeline.Sum(func(d delta) int64 { return d.N }))
		pipeline.WriteTo(totals, sinks.Map[string, int64](p.Totals))
		pipeline.WriteTo(in, sinks.MapWithUpdating(p.Updated, func(d delta) string { return d.Key }, updateTotal))
		return pl.Compile()
	})
}

// updateTotal adds an item to a key's total in the updated map; N = 0
// removes the key.
func updateTotal(total int64, _ bool, d delta) (int64, bool) {
	if d.N == 0 {
		return 0, false
	}
	return total + d.N, true
}

// plainMaps is what the job's maps hold after items, computed plainly.
func plainMaps(items []delta) (totals, updated map[string]int64) {
	totals, updated = map[string]int64{}, map[string]int64{}
	for _, d := range items {
		totals[d.Key] += d.N
		old, found := updated[d.Key]
		if v, keep := updateTotal(old, found, d); keep {
			updated[d.Key] = v
		} else {
			delete(updated, d.Key)
		}
	}
	return totals, updated
}

// committedInput is the test's input: before, 40 keys updated 10 times
// (and some removed from the updated map); after, more updates of those
// keys, removals, and 20 keys written once only.
func committedInput() (before, after []delta) {
	for i := range 400 {
		n := int64(1 + i%5)
		if i%97 == 96 {
			n = 0
		}
		before = append(before, delta{Key: fmt.Sprintf("k%d", i%40), N: n})
	}
	for i := range 150 {
		switch {
		case i%15 == 14:
			after = append(after, delta{Key: fmt.Sprintf("late-%d", i/15), N: 7})
		case i%10 == 3:
			after = append(after, delta{Key: fmt.Sprintf("k%d", i%40), N: 0})
		default:
			after = append(after, delta{Key: fmt.Sprintf("k%d", i%40), N: int64(100 + i)})
		}
	}
	for i := 10; i < 20; i++ {
		after = append(after, delta{Key: fmt.Sprintf("late-%d", i), N: 3})
	}
	return before, after
}

// TestMapSinksCommitWithSnapshots runs a keyed job into Map and
// MapWithUpdating on three members with exactly-once snapshots taken on
// demand. Writes become visible only when a snapshot covering them
// commits. A member is killed after the job wrote input that no snapshot
// covers; the restored execution has not read that input again when the
// next snapshot is taken, and the maps then hold exactly the plain
// computation over the input that snapshot covers: no key the failed
// execution wrote after its last snapshot (keys written once only, later
// values, removals) is left. Then the job reads the rest, and the maps
// equal the computation over all of it.
func TestMapSinksCommitWithSnapshots(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	before, all := committedBefore, committedItems
	gateName, g := newGate(t, int64(len(before)))
	p := committedParams{Src: Src{Gate: gateName}, Totals: uniqueName(t), Updated: uniqueName(t)}

	// An hour: every snapshot is one the test takes.
	job := submit(t, ms[0], committedJob, p, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(time.Hour), dag.WithScaleUpDelay(-1))
	waitWritten(t, ms, len(before))
	cut := exportCut(t, ms[0], job)
	require.Equal(t, len(before), cut)
	waitMaps(t, ms[0], p, before)

	g.limit.Store(int64(len(all)))
	waitWritten(t, ms, len(all))
	// Written, in no snapshot: not visible.
	requireMaps(t, ms[0], p, before)

	// The restored execution reads no further than the snapshot for now.
	g.limit.Store(int64(len(before)))
	restarts := info(t, job).Restarts
	ms[2].Terminate() // a crash, not a leave
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		inf := info(t, job)
		return inf.Status == dag.Running && inf.Restarts > restarts && len(inf.Members) == 2
	}), "the job did not restart on the two members left: %+v", info(t, job))
	cut = exportCut(t, ms[0], job)
	require.Equal(t, len(before), cut, "the restored execution read past the gate")
	waitMaps(t, ms[0], p, all[:cut])

	g.limit.Store(int64(len(all)))
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return exportCut(t, ms[0], job) == len(all) }))
	waitMaps(t, ms[0], p, all)
}

// waitWritten waits until the map sinks of the job have written n items
// each on the live members.
func waitWritten(t *testing.T, ms []*member.Member, n int) {
	t.Helper()
	var got map[string]int64
	ok := clustertest.PollUntil(time.Minute, func() bool {
		got = map[string]int64{}
		for _, m := range ms {
			if m.IsClosed() {
				continue
			}
			for _, js := range dag.LocalStats(m) {
				for _, v := range js.Vertices {
					if strings.HasPrefix(v.Vertex, "map-") {
						got[v.Vertex] += v.ItemsIn
					}
				}
			}
		}
		if len(got) < 2 {
			return false
		}
		for _, in := range got {
			if in < int64(n) {
				return false
			}
		}
		return true
	})
	require.True(t, ok, "the map sinks did not write %d items: %v", n, got)
}

// exportCut takes a snapshot of job and returns how many input items it
// covers: the gated source's position in it.
func exportCut(t *testing.T, m *member.Member, job *dag.Job) int {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	name := uniqueName(t)
	require.NoError(t, job.ExportSnapshot(ctx, name))
	store, c, err := snapshot.OpenNamed(ctx, m, name)
	require.NoError(t, err)
	cut := -1
	require.NoError(t, store.Read(ctx, c, "gate", nil, func(key, value []byte) error {
		_, b, err := dag.LoadEntry[string, []byte](key, value)
		if err != nil {
			return err
		}
		pos, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("gate position %x", b)
		}
		cut = int(pos)
		return nil
	}))
	return cut
}

// readMaps reads the job's two maps.
func readMaps(ctx context.Context, m *member.Member, p committedParams) (totals, updated map[string]int64, err error) {
	read := func(name string) (map[string]int64, error) {
		out := map[string]int64{}
		for e, err := range grid.GetMap[string, int64](m, name).All(ctx) {
			if err != nil {
				return nil, err
			}
			out[e.Key] = e.Value
		}
		return out, nil
	}
	if totals, err = read(p.Totals); err == nil {
		updated, err = read(p.Updated)
	}
	return totals, updated, err
}

// requireMaps checks the maps are now the plain computation over items.
func requireMaps(t *testing.T, m *member.Member, p committedParams, items []delta) {
	t.Helper()
	totals, updated, err := readMaps(ctxT(t, 10*time.Second), m, p)
	require.NoError(t, err)
	wantTotals, wantUpdated := plainMaps(items)
	require.Equal(t, wantTotals, totals, "Map")
	require.Equal(t, wantUpdated, updated, "MapWithUpdating")
}

// waitMaps waits until the maps are the plain computation over items (a
// snapshot's commit reaches the members just after it completes), and
// fails saying how they differ if they never are.
func waitMaps(t *testing.T, m *member.Member, p committedParams, items []delta) {
	t.Helper()
	wantTotals, wantUpdated := plainMaps(items)
	var totals, updated map[string]int64
	var err error
	ok := clustertest.PollUntil(20*time.Second, func() bool {
		totals, updated, err = readMaps(ctxT(t, 10*time.Second), m, p)
		return err == nil && maps.Equal(totals, wantTotals) && maps.Equal(updated, wantUpdated)
	})
	if !ok {
		require.NoError(t, err)
		require.Equal(t, wantTotals, totals, "Map")
		require.Equal(t, wantUpdated, updated, "MapWithUpdating")
	}
}

// TestMapSinksExactlyOnceThroughRestart: the merging sinks (not idempotent)
// of an exactly-once job restarted midway, with items written after the
// snapshot it restores, end with every item merged once; the job completes,
// committing what followed its last snapshot.
func TestMapSinksExactlyOnceThroughRestart(t *testing.T) {
	t.Parallel()
	const n, keys = 4000, 50
	c := clustertest.Start(t, 3, member.Config{})
	for _, kind := range []string{"map", "merging", "updating"} {
		t.Run(kind, func(t *testing.T) {
			ms := c.Members()
			name := uniqueName(t)
			gateName, g := newGate(t, 0)
			j := submit(t, ms[0], "sinks_test.merge", mergeParams{Src: Src{N: n, Gate: gateName}, Map: name, Kind: kind, Keys: keys}, exactlyOnce...)
			restartMidway(t, j, g, n)

			want := map[string]int{}
			for i := range n {
				k := mergeKey(i % keys)
				switch kind {
				case "map":
					want[k] = i % keys
				case "merging":
					want[k] += i
				case "updating":
					if (i%keys)%5 != 0 {
						want[k] += i
					}
				}
			}
			got := map[string]int{}
			for e, err := range grid.GetMap[string, int](ms[1], name).All(ctxT(t, 30*time.Second)) {
				require.NoError(t, err)
				got[e.Key] = e.Value
			}
			require.Equal(t, want, got)
		})
	}
}
