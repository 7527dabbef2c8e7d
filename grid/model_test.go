package grid_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// Workers on every member each own a disjoint range of keys, so a plain Go
// map per worker is an exact model of their keys: every result of every
// operation must match it, and at the end Scan and Len must match the
// union of the models.
func TestMapMatchesReferenceModel(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 60*time.Second)
	const workersPerMember, keysPerWorker, opsPerWorker = 2, 24, 400
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	models := make([]map[string]int, len(ms)*workersPerMember)
	var wg sync.WaitGroup
	for mi, m := range ms {
		mp := grid.GetMap[string, int](m, "model")
		for wi := range workersPerMember {
			w := mi*workersPerMember + wi
			model := map[string]int{}
			models[w] = model
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range opsPerWorker {
					k := fmt.Sprintf("w%d-k%d", w, rng.IntN(keysPerWorker))
					v, old := rng.IntN(5), rng.IntN(5)
					if rng.IntN(3) == 0 {
						if cur, ok := model[k]; ok {
							old = cur // so that compare-and-* succeed often
						}
					}
					cur, present := model[k]
					where := fmt.Sprintf("worker %d op %d on %s (model: %d, %v)", w, i, k, cur, present)
					switch rng.IntN(7) {
					case 0:
						require.NoError(t, mp.Put(ctx, k, v), where)
						model[k] = v
					case 1:
						require.NoError(t, mp.Delete(ctx, k), where)
						delete(model, k)
					case 2:
						stored, existing, err := mp.PutIfAbsent(ctx, k, v)
						require.NoError(t, err, where)
						require.Equal(t, !present, stored, "put-if-absent stored: %s", where)
						if present {
							require.Equal(t, cur, existing, "put-if-absent existing: %s", where)
						} else {
							model[k] = v
						}
					case 3:
						swapped, err := mp.CompareAndSwap(ctx, k, old, v)
						require.NoError(t, err, where)
						want := present && cur == old
						require.Equal(t, want, swapped, "compare-and-swap %d->%d: %s", old, v, where)
						if want {
							model[k] = v
						}
					case 4:
						deleted, err := mp.CompareAndDelete(ctx, k, old)
						require.NoError(t, err, where)
						want := present && cur == old
						require.Equal(t, want, deleted, "compare-and-delete %d: %s", old, where)
						if want {
							delete(model, k)
						}
					case 5:
						replaced, err := mp.Replace(ctx, k, v)
						require.NoError(t, err, where)
						require.Equal(t, present, replaced, "replace: %s", where)
						if present {
							model[k] = v
						}
					case 6:
						got, ok, err := mp.Get(ctx, k)
						require.NoError(t, err, where)
						require.Equal(t, present, ok, "get found: %s", where)
						require.Equal(t, cur, got, "get value: %s", where)
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	want := map[string]int{}
	for _, m := range models {
		maps.Copy(want, m)
	}
	var every []string // every key a worker may have touched
	for w := range models {
		for k := range keysPerWorker {
			every = append(every, fmt.Sprintf("w%d-k%d", w, k))
		}
	}
	for _, m := range ms {
		mp := grid.GetMap[string, int](m, "model")
		got := map[string]int{}
		require.NoError(t, mp.Scan(ctx, func(k string, v int) bool {
			_, dup := got[k]
			require.False(t, dup, "scan returned %s twice", k)
			got[k] = v
			return true
		}))
		require.Equal(t, want, got, "scan through %s", m.Name())
		n, err := mp.Len(ctx)
		require.NoError(t, err)
		require.Equal(t, len(want), n, "len through %s", m.Name())
		all, err := mp.GetAll(ctx, every)
		require.NoError(t, err)
		require.Equal(t, want, all, "get-all through %s", m.Name())
	}
	t.Logf("%d entries at the end", len(want))
}
