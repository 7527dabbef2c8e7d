package resp_test

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/resp"
)

var respLine = regexp.MustCompile(`serving RESP on (\S+)`)

// respAddr waits for the RESP address a member process prints.
func respAddr(t *testing.T, p *proctest.Proc) string {
	var a string
	require.Eventually(t, func() bool {
		m := respLine.FindStringSubmatch(p.Output())
		if m != nil {
			a = m[1]
		}
		return m != nil
	}, time.Minute, 10*time.Millisecond, "member %s serves no RESP", p.Name)
	return a
}

// Three member processes with one backup serve RESP; go-redis clients of
// two of them SET unique keys and INCR shared counters (half of them in
// pipelines, which go to the owners in batches) while the third is
// killed with kill -9. No acknowledged SET is lost, and each counter holds
// exactly the increments acknowledged (an INCR retried by the member after
// the owner died is applied once). The Go API of a lite member reads the
// same data.
func TestNoAcknowledgedWriteLostWhenAMemberIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	p1 := proctest.StartMember(t, "p1", "--resp", "127.0.0.1:0")
	p2 := proctest.StartMember(t, "p2", "--resp", "127.0.0.1:0", "--join", p1.GossipAddr)
	p3 := proctest.StartMember(t, "p3", "--resp", "127.0.0.1:0", "--join", p1.GossipAddr)
	cfg := clustertest.Config(t)
	cfg.Lite = true
	cfg.Join = []string{p1.GossipAddr}
	obs, err := weir.Start(clustertest.Ctx(t, time.Minute), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, obs.Shutdown(clustertest.Ctx(t, time.Minute))) })
	proctest.WaitTable(t, obs, p1.ID, p2.ID, p3.ID)

	ctx := clustertest.Ctx(t, 3*time.Minute)
	clients := []*redis.Client{}
	for _, p := range []*proctest.Proc{p1, p3} {
		c := redis.NewClient(&redis.Options{Addr: respAddr(t, p), MaxRetries: -1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
		t.Cleanup(func() { _ = c.Close() })
		clients = append(clients, c)
	}

	const counters = 8
	var (
		mu       sync.Mutex
		acked    []string
		incrs    [counters]atomic.Int64 // acknowledged
		failed   [counters]atomic.Int64 // answered with an error: applied or not
		setFails atomic.Int64
		count    atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 6 {
		rc := clients[w%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := rc.Set(ctx, k, k, 0).Err(); err == nil {
					mu.Lock()
					acked = append(acked, k)
					mu.Unlock()
				} else {
					setFails.Add(1)
				}
				n := i % counters
				if w%2 == 0 {
					if err := rc.Incr(ctx, "counter-"+strconv.Itoa(n)).Err(); err == nil {
						incrs[n].Add(1)
					} else {
						failed[n].Add(1)
					}
				} else {
					// Pipelined: a run of increments goes to the owners
					// in one batch (ExecuteAll), each applied once.
					pipe := rc.Pipeline()
					var cmds []*redis.IntCmd
					for j := range 4 {
						cmds = append(cmds, pipe.Incr(ctx, "counter-"+strconv.Itoa((n+j)%counters)))
					}
					_, _ = pipe.Exec(ctx)
					for j, cmd := range cmds {
						if cmd.Err() == nil {
							incrs[(n+j)%counters].Add(1)
						} else {
							failed[(n+j)%counters].Add(1)
						}
					}
				}
				count.Add(1)
			}
		}()
	}
	waitCount := func(more int64) {
		target := count.Load() + more
		require.Eventually(t, func() bool { return count.Load() >= target }, 2*time.Minute, 10*time.Millisecond)
	}
	waitCount(500)
	p2.Kill()
	waitCount(500) // writes go on through the failover
	proctest.WaitTable(t, obs, p1.ID, p3.ID)
	waitCount(200) // and after it
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged SETs, %d failed; %d rounds", len(acked), setFails.Load(), count.Load())

	strs := grid.GetMap[string, string](obs, resp.DefaultMap)
	got, err := strs.GetAll(ctx, acked)
	require.NoError(t, err)
	for _, k := range acked {
		require.Equal(t, k, got[k], "acknowledged SET of %s lost (Go API)", k)
	}
	for i, k := range acked {
		if i%50 == 0 { // and through RESP, from both survivors
			require.Equal(t, k, clients[i%2].Get(ctx, k).Val(), "acknowledged SET of %s lost (RESP)", k)
		}
	}
	for n := range counters {
		v, err := clients[0].Get(ctx, "counter-"+strconv.Itoa(n)).Int64()
		require.NoError(t, err)
		lo, hi := incrs[n].Load(), incrs[n].Load()+failed[n].Load()
		require.True(t, v >= lo && v <= hi, "counter %d is %d, want %d acknowledged increments (+ up to %d failed)", n, v, lo, failed[n].Load())
	}
}
