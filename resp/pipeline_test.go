package resp_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/resp"
)

// A pipeline mixing runs of SETs and GETs of keys every member owns with
// other commands is answered in order, each command seeing the writes of
// those before it.
func TestPipelineAnsweredInOrder(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := clustertest.Ctx(t, time.Minute)
	rc := dial(t, c.Members()[0], 3)
	const n = 300
	pipe := rc.Pipeline()
	var sets, gets []*redis.StatusCmd
	var reads []*redis.StringCmd
	var incrs []*redis.IntCmd
	for i := range n {
		k := "pipe-" + strconv.Itoa(i)
		sets = append(sets, pipe.Set(ctx, k, "a"+strconv.Itoa(i), 0))
		sets = append(sets, pipe.Set(ctx, k, "b"+strconv.Itoa(i), 0)) // the later SET wins
	}
	for i := range n {
		reads = append(reads, pipe.Get(ctx, "pipe-"+strconv.Itoa(i)))
	}
	for i := range n {
		k := "pipe-n-" + strconv.Itoa(i%7)
		incrs = append(incrs, pipe.Incr(ctx, k))
		gets = append(gets, pipe.Set(ctx, "pipe-last", strconv.Itoa(i), 0))
	}
	last := pipe.Get(ctx, "pipe-last")
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	for _, s := range sets {
		require.Equal(t, "OK", s.Val())
	}
	for i, r := range reads {
		require.Equal(t, "b"+strconv.Itoa(i), r.Val())
	}
	for i, r := range incrs {
		require.Equal(t, int64(i/7+1), r.Val(), "INCR %d", i)
	}
	require.Len(t, gets, n)
	require.Equal(t, strconv.Itoa(n-1), last.Val())
}

// SUBSCRIBE to a map's name delivers the map's changes, whichever member
// made them, in RESP2 and RESP3.
func TestSubscribeDeliversMapEvents(t *testing.T) {
	c := startCluster(t, 3, nil)
	ms := c.Members()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := clustertest.Ctx(t, time.Minute)
			channel := fmt.Sprintf("vehicles-%d", proto)
			sub := dial(t, ms[0], proto).Subscribe(ctx, channel)
			t.Cleanup(func() { _ = sub.Close() })
			_, err := sub.Receive(ctx) // the subscription's confirmation
			require.NoError(t, err)
			msgs := sub.Channel()

			// The subscription reaches the owners asynchronously: write
			// until the first event arrives, then the ones that matter.
			vehicles := grid.GetMap[string, string](ms[1], channel)
			require.Eventually(t, func() bool {
				require.NoError(t, vehicles.Put(ctx, "probe", "p"))
				select {
				case <-msgs:
					return true
				case <-time.After(50 * time.Millisecond):
					return false
				}
			}, 20*time.Second, time.Millisecond)
			other := dial(t, ms[2], proto)
			require.NoError(t, other.HSet(ctx, channel, "truck-7", "18000").Err())
			require.NoError(t, other.HDel(ctx, channel, "truck-7").Err())

			var got []map[string]any
			for len(got) < 2 {
				select {
				case m := <-msgs:
					require.Equal(t, channel, m.Channel)
					var ev map[string]any
					require.NoError(t, json.Unmarshal([]byte(m.Payload), &ev))
					if ev["key"] == "truck-7" {
						got = append(got, ev)
					}
				case <-ctx.Done():
					t.Fatalf("events missing: %v", got)
				}
			}
			require.Equal(t, "added", got[0]["type"])
			require.Equal(t, "18000", got[0]["value"])
			require.Equal(t, "removed", got[1]["type"])
			require.Equal(t, "18000", got[1]["old"])
			require.NoError(t, sub.Unsubscribe(ctx, channel))
		})
	}
}

// With a cluster secret, a client must authenticate: NOAUTH before,
// WRONGPASS for a wrong password, and everything after AUTH (or HELLO's
// AUTH, which go-redis sends) with the secret.
func TestAuthWithClusterSecret(t *testing.T) {
	c := startCluster(t, 1, func(cfg *member.Config) { cfg.SecretKey = []byte("s3cret") })
	m := c.Members()[0]
	ctx := clustertest.Ctx(t, time.Minute)

	anon := dial(t, m, 2)
	require.ErrorContains(t, anon.Get(ctx, "k").Err(), "NOAUTH")
	require.ErrorContains(t, anon.Do(ctx, "auth", "wrong").Err(), "WRONGPASS")
	require.ErrorContains(t, anon.Set(ctx, "k", "v", 0).Err(), "NOAUTH")

	for _, proto := range []int{2, 3} {
		wrong := dial(t, m, proto, func(o *redis.Options) { o.Password = "nope" })
		require.ErrorContains(t, wrong.Ping(ctx).Err(), "WRONGPASS")
		good := dial(t, m, proto, func(o *redis.Options) { o.Password = "s3cret" })
		require.NoError(t, good.Set(ctx, "k", "v", 0).Err())
		require.Equal(t, "v", good.Get(ctx, "k").Val())
	}
	// Without a secret, AUTH is an error, as in Redis without a password.
	open := startCluster(t, 1, nil)
	require.ErrorContains(t, dial(t, open.Members()[0], 2).Do(ctx, "auth", "x").Err(), "without any password configured")

}

// With NearCache, a client reads its own writes through its member at
// once, and another member's write once its invalidation arrives.
func TestNearCacheReadsOwnWrites(t *testing.T) {
	var ms []*member.Member
	for i := range 2 {
		cfg := clustertest.Config(t)
		cfg.RESPAddr = "127.0.0.1:0"
		if i > 0 {
			cfg.Join = []string{ms[0].Addr()}
		}
		m, err := member.Start(clustertest.Ctx(t, time.Minute), cfg, grid.Service(), resp.Service(resp.Options{Limits: testLimits, NearCache: true}))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Shutdown(clustertest.Ctx(t, time.Minute))) })
		ms = append(ms, m)
	}
	ctx := clustertest.Ctx(t, time.Minute)
	require.Eventually(t, func() bool {
		tb := ms[0].Partitions()
		return tb != nil && len(tb.Owned(ms[1].ID())) > 0
	}, 30*time.Second, 10*time.Millisecond)
	a, b := dial(t, ms[0], 3), dial(t, ms[1], 3)
	for i := range 200 { // keys of both members
		k := "near-" + strconv.Itoa(i)
		require.NoError(t, a.Set(ctx, k, "1", 0).Err())
		require.Equal(t, "1", a.Get(ctx, k).Val()) // now cached on a
		require.Equal(t, int64(2), a.Incr(ctx, k).Val())
		require.Equal(t, "2", a.Get(ctx, k).Val(), "own write of %s", k)
		require.NoError(t, b.Set(ctx, k, "3", 0).Err())
		require.Eventually(t, func() bool { return a.Get(ctx, k).Val() == "3" }, 10*time.Second, time.Millisecond)
	}
}

// A pipeline of increments goes to the owners together: one processor
// call per run (grid counts a batch as one operation), each increment
// applied once, and answered in order, whichever member owns each key.
func TestPipelinedIncrementsGoToOwnersTogether(t *testing.T) {
	c := startCluster(t, 3, nil)
	ms := c.Members()
	ctx := clustertest.Ctx(t, time.Minute)
	grid.EnableStats(ms[0], true)
	executes := func() int64 {
		for _, st := range grid.Stats(ms[0]) {
			if st.Name == resp.DefaultMap {
				return st.Ops[slices.Index(grid.OpKinds[:], "execute")]
			}
		}
		return 0
	}
	rc := dial(t, ms[0], 2)
	pipe := rc.Pipeline()
	var cmds []*redis.IntCmd
	for i := range 64 {
		k := "incr-" + strconv.Itoa(i%5)
		switch i % 4 {
		case 0:
			cmds = append(cmds, pipe.Incr(ctx, k))
		case 1:
			cmds = append(cmds, pipe.IncrBy(ctx, k, 10))
		case 2:
			cmds = append(cmds, pipe.Decr(ctx, k))
		default:
			cmds = append(cmds, pipe.DecrBy(ctx, k, 3))
		}
	}
	before := executes()
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	// go-redis writes the pipeline at once; the member reads it in one
	// or a few reads, each read's run one batch.
	require.Less(t, executes()-before, int64(8), "the increments were not batched")
	want := map[string]int64{}
	for i, cmd := range cmds {
		k := "incr-" + strconv.Itoa(i%5)
		want[k] += []int64{1, 10, -1, -3}[i%4]
		require.Equal(t, want[k], cmd.Val(), "command %d", i)
	}
	strs := grid.GetMap[string, string](ms[1], resp.DefaultMap)
	for k, n := range want {
		v, ok, err := strs.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, strconv.FormatInt(n, 10), v)
	}
	// An increment of a value that is no integer is answered with its
	// error, in its place; the others of the run apply.
	require.NoError(t, rc.Set(ctx, "incr-text", "abc", 0).Err())
	pipe = rc.Pipeline()
	a := pipe.Incr(ctx, "incr-0")
	bad := pipe.Incr(ctx, "incr-text")
	b := pipe.Incr(ctx, "incr-0")
	_, _ = pipe.Exec(ctx)
	require.NoError(t, a.Err())
	require.Equal(t, want["incr-0"]+1, a.Val())
	require.EqualError(t, bad.Err(), "ERR value is not an integer or out of range")
	require.NoError(t, b.Err())
	require.Equal(t, want["incr-0"]+2, b.Val())
}
