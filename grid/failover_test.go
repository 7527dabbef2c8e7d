package grid_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// writeLoad runs writers that put unique keys through the given members
// until stop is closed, recording every acknowledged write.
type writeLoad struct {
	mu    sync.Mutex
	acked map[string]int
	errs  atomic.Int64
	wg    sync.WaitGroup
	stop  chan struct{}
	count atomic.Int64
}

func startLoad(t *testing.T, ms []*member.Member, name string, writersPer int) *writeLoad {
	l := &writeLoad{acked: map[string]int{}, stop: make(chan struct{})}
	for mi, m := range ms {
		mp := grid.GetMap[string, int](m, name)
		for w := range writersPer {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for i := 0; ; i++ {
					select {
					case <-l.stop:
						return
					default:
					}
					k := fmt.Sprintf("m%d-w%d-%d", mi, w, i)
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err := mp.Put(ctx, k, i)
					cancel()
					if err != nil {
						l.errs.Add(1)
						continue
					}
					l.mu.Lock()
					l.acked[k] = i
					l.mu.Unlock()
					l.count.Add(1)
				}
			}()
		}
	}
	return l
}

// waitWrites waits until n more writes have been acknowledged.
func (l *writeLoad) waitWrites(t *testing.T, n int64) {
	target := l.count.Load() + n
	require.Eventually(t, func() bool { return l.count.Load() >= target }, 30*time.Second, 5*time.Millisecond)
}

func (l *writeLoad) finish() map[string]int {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

func verifyAll(t *testing.T, m *member.Member, name string, acked map[string]int) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	mp := grid.GetMap[string, int](m, name)
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	got, err := mp.GetAll(ctx, keys)
	require.NoError(t, err)
	missing := 0
	for k, v := range acked {
		if gv, ok := got[k]; !ok || gv != v {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged write %s=%d lost (got %d, present %v)", k, v, gv, ok)
			}
		}
	}
	require.Zero(t, missing, "%d of %d acknowledged writes lost", missing, len(acked))
}

func TestNoAcknowledgedWriteLostWhenAMemberCrashes(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	load := startLoad(t, ms[:2], "crash", 4)
	load.waitWrites(t, 500)
	ms[2].Terminate()
	load.waitWrites(t, 500) // writes go on through the failover
	acked := load.finish()
	c.WaitStable(2)
	t.Logf("%d acknowledged writes, %d failed attempts", len(acked), load.errs.Load())
	verifyAll(t, ms[0], "crash", acked)
}

func TestNoAcknowledgedWriteLostWhenAMemberJoins(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	load := startLoad(t, ms, "join", 4)
	load.waitWrites(t, 500)
	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	load.waitWrites(t, 500)
	acked := load.finish()
	verifyAll(t, c.Members()[2], "join", acked)
}

func TestGracefulLeaveWithoutBackupsLosesNothing(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.BackupCount = member.NoBackups
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	load := startLoad(t, ms[:2], "leave", 4)
	load.waitWrites(t, 500)
	require.NoError(t, ms[2].Shutdown(ctxT(t, 30*time.Second)))
	load.waitWrites(t, 500)
	acked := load.finish()
	c.WaitStable(2)
	verifyAll(t, ms[1], "leave", acked)
}

func TestCounterExactWhenOwnerCrashes(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	// A key owned by the member that will crash, so increments are in flight
	// on it when it dies.
	victim := ms[2]
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("counter-%d", i)
		if ownerOf(t, ms[0], k) == victim.ID() {
			key = k
		}
	}
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, m := range ms[:2] {
		mp := grid.GetMap[string, int64](m, "counter")
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err := grid.Execute(ctx, mp, key, incr, 1)
					cancel()
					if err != nil {
						failed.Add(1)
						continue
					}
					acked.Add(1)
				}
			}()
		}
	}
	require.Eventually(t, func() bool { return acked.Load() > 300 }, 30*time.Second, 5*time.Millisecond)
	victim.Terminate()
	target := acked.Load() + 300
	require.Eventually(t, func() bool { return acked.Load() > target }, 30*time.Second, 5*time.Millisecond)
	close(stop)
	wg.Wait()
	v, _, err := grid.GetMap[string, int64](ms[0], "counter").Get(ctxT(t, 10*time.Second), key)
	require.NoError(t, err)
	require.Zero(t, failed.Load(), "every increment eventually succeeded")
	require.Equal(t, acked.Load(), v, "the counter equals the acknowledged increments")
}
