package resp_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/resp"
)

// Every command, through go-redis, against a 3-member cluster: each
// member's endpoint serves every key, whichever member owns it, in RESP2
// and in RESP3; and the Go API reads the same data.
func TestCommandsOnThreeMembers(t *testing.T) {
	c := startCluster(t, 3, nil)
	ms := c.Members()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := clustertest.Ctx(t, time.Minute)
			for i, m := range ms {
				rc := dial(t, m, proto)
				p := fmt.Sprintf("p%d-m%d-", proto, i)
				stringCommands(t, ctx, rc, p)
				hashCommands(t, ctx, rc, p)
				serverCommands(t, ctx, rc, len(ms))
			}
			// What the clients wrote, the Go API reads, on any member.
			strs := grid.GetMap[string, string](ms[1], resp.DefaultMap)
			v, ok, err := strs.Get(ctx, fmt.Sprintf("p%d-m0-s1", proto))
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "v1", v)
			h := grid.GetMap[string, string](ms[2], fmt.Sprintf("p%d-m0-h", proto))
			v, ok, err = h.Get(ctx, "f2")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "b", v)
		})
	}
}

func stringCommands(t *testing.T, ctx context.Context, rc *redis.Client, p string) {
	k := func(s string) string { return p + s }
	require.Equal(t, "OK", rc.Set(ctx, k("s1"), "v1", 0).Val())
	require.Equal(t, "v1", rc.Get(ctx, k("s1")).Val())
	require.ErrorIs(t, rc.Get(ctx, k("none")).Err(), redis.Nil)

	// SET's options.
	require.True(t, rc.SetNX(ctx, k("nx"), "a", 0).Val())
	require.False(t, rc.SetNX(ctx, k("nx"), "b", 0).Val())
	require.True(t, rc.SetXX(ctx, k("nx"), "c", 0).Val())
	require.False(t, rc.SetXX(ctx, k("xx-none"), "c", 0).Val())
	old, err := rc.SetArgs(ctx, k("nx"), "d", redis.SetArgs{Get: true}).Result()
	require.NoError(t, err)
	require.Equal(t, "c", old)
	require.Equal(t, "OK", rc.Set(ctx, k("ex"), "e", time.Hour).Val())
	ttl := rc.TTL(ctx, k("ex")).Val()
	require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 60)
	require.Equal(t, "OK", rc.SetArgs(ctx, k("ex"), "f", redis.SetArgs{KeepTTL: true}).Val())
	require.InDelta(t, time.Hour.Seconds(), rc.TTL(ctx, k("ex")).Val().Seconds(), 60, "KEEPTTL keeps it")
	require.Equal(t, "OK", rc.Set(ctx, k("ex"), "g", 0).Val())
	require.Equal(t, time.Duration(-1), rc.TTL(ctx, k("ex")).Val(), "a plain SET clears it")
	require.Equal(t, "OK", rc.Set(ctx, k("px"), "h", 200*time.Millisecond).Val())
	require.Eventually(t, func() bool { return rc.Exists(ctx, k("px")).Val() == 0 }, 10*time.Second, 20*time.Millisecond)

	// Expiry commands.
	require.True(t, rc.Expire(ctx, k("s1"), time.Hour).Val())
	require.False(t, rc.Expire(ctx, k("none"), time.Hour).Val())
	pttl := rc.PTTL(ctx, k("s1")).Val()
	require.Greater(t, pttl, 59*time.Minute)
	require.True(t, rc.Persist(ctx, k("s1")).Val())
	require.False(t, rc.Persist(ctx, k("s1")).Val())
	require.Equal(t, time.Duration(-1), rc.TTL(ctx, k("s1")).Val())
	require.Equal(t, time.Duration(-2), rc.TTL(ctx, k("none")).Val())
	require.True(t, rc.PExpire(ctx, k("nx"), 100*time.Millisecond).Val())
	require.Eventually(t, func() bool { return rc.Get(ctx, k("nx")).Err() == redis.Nil }, 10*time.Second, 20*time.Millisecond)
	require.True(t, rc.Set(ctx, k("gone"), "x", 0).Err() == nil)
	require.True(t, rc.Expire(ctx, k("gone"), -1).Val(), "a negative expiry deletes the key")
	require.Equal(t, int64(0), rc.Exists(ctx, k("gone")).Val())

	// Counters: INCR keeps an expiry; a non-integer is refused.
	require.Equal(t, int64(1), rc.Incr(ctx, k("n")).Val())
	require.Equal(t, int64(11), rc.IncrBy(ctx, k("n"), 10).Val())
	require.Equal(t, int64(10), rc.Decr(ctx, k("n")).Val())
	require.Equal(t, int64(5), rc.DecrBy(ctx, k("n"), 5).Val())
	require.True(t, rc.Expire(ctx, k("n"), time.Hour).Val())
	require.Equal(t, int64(6), rc.Incr(ctx, k("n")).Val())
	require.Greater(t, rc.TTL(ctx, k("n")).Val(), 59*time.Minute)
	require.ErrorContains(t, rc.Incr(ctx, k("s1")).Err(), "ERR value is not an integer")
	require.Equal(t, "OK", rc.Set(ctx, k("max"), "9223372036854775807", 0).Val())
	require.ErrorContains(t, rc.Incr(ctx, k("max")).Err(), "overflow")

	// APPEND, GETDEL, DEL, EXISTS, MGET, MSET.
	require.Equal(t, int64(3), rc.Append(ctx, k("s1"), "+").Val())
	require.Equal(t, "v1+", rc.Get(ctx, k("s1")).Val())
	require.Equal(t, "OK", rc.Set(ctx, k("s1"), "v1", 0).Val())
	require.Equal(t, "OK", rc.MSet(ctx, k("m1"), "1", k("m2"), "2").Val())
	require.Equal(t, []any{"1", "2", nil}, rc.MGet(ctx, k("m1"), k("m2"), k("m3")).Val())
	require.Equal(t, int64(3), rc.Exists(ctx, k("m1"), k("m2"), k("m3"), k("m1")).Val())
	require.Equal(t, "2", rc.GetDel(ctx, k("m2")).Val())
	require.ErrorIs(t, rc.GetDel(ctx, k("m2")).Err(), redis.Nil)
	require.Equal(t, int64(1), rc.Del(ctx, k("m1"), k("m2")).Val())
	require.Equal(t, []any{nil, nil}, rc.MGet(ctx, k("m1"), k("m2")).Val())

	// Errors as clients expect them.
	require.ErrorContains(t, rc.Do(ctx, "set", k("x")).Err(), "ERR wrong number of arguments for 'set' command")
	require.ErrorContains(t, rc.Do(ctx, "set", k("x"), "1", "NX", "XX").Err(), "ERR syntax error")
	require.ErrorContains(t, rc.Do(ctx, "set", k("x"), "1", "EX", "0").Err(), "ERR invalid expire time")
	require.ErrorContains(t, rc.Do(ctx, "nosuchcommand").Err(), "ERR unknown command")
}

func hashCommands(t *testing.T, ctx context.Context, rc *redis.Client, p string) {
	h := p + "h"
	require.Equal(t, int64(2), rc.HSet(ctx, h, "f1", "a", "f2", "b").Val())
	require.Equal(t, int64(1), rc.HSet(ctx, h, "f1", "A", "f3", "c").Val())
	require.Equal(t, "A", rc.HGet(ctx, h, "f1").Val())
	require.ErrorIs(t, rc.HGet(ctx, h, "nope").Err(), redis.Nil)
	require.Equal(t, int64(3), rc.HLen(ctx, h).Val())
	require.True(t, rc.HExists(ctx, h, "f2").Val())
	require.False(t, rc.HExists(ctx, h, "nope").Val())
	require.Equal(t, map[string]string{"f1": "A", "f2": "b", "f3": "c"}, rc.HGetAll(ctx, h).Val())
	require.Equal(t, []any{"A", nil, "c"}, rc.HMGet(ctx, h, "f1", "nope", "f3").Val())
	keys := rc.HKeys(ctx, h).Val()
	sort.Strings(keys)
	require.Equal(t, []string{"f1", "f2", "f3"}, keys)
	require.Equal(t, int64(1), rc.HDel(ctx, h, "f3", "nope").Val())

	// HSCAN to the end returns every field once.
	got := map[string]string{}
	var cursor uint64
	for {
		kvs, next, err := rc.HScan(ctx, h, cursor, "", 1).Result()
		require.NoError(t, err)
		for i := 0; i < len(kvs); i += 2 {
			require.NotContains(t, got, kvs[i])
			got[kvs[i]] = kvs[i+1]
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	require.Equal(t, map[string]string{"f1": "A", "f2": "b"}, got)
	m, _, err := rc.HScan(ctx, h, 0, "f2*", 1000).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"f2", "b"}, m)
	require.Equal(t, map[string]string{}, rc.HGetAll(ctx, p+"no-such-hash").Val())
}

func serverCommands(t *testing.T, ctx context.Context, rc *redis.Client, members int) {
	require.Equal(t, "PONG", rc.Ping(ctx).Val())
	require.Equal(t, "hi", rc.Echo(ctx, "hi").Val())
	require.Equal(t, "OK", rc.Do(ctx, "select", "0").Val())
	require.ErrorContains(t, rc.Do(ctx, "select", "1").Err(), "ERR DB index is out of range")
	require.Equal(t, "OK", rc.Do(ctx, "client", "setname", "tester").Val())
	require.Equal(t, "tester", rc.Do(ctx, "client", "getname").Val())
	info := rc.Info(ctx).Val()
	for _, s := range []string{"# Server", "# Clients", "# Memory", "# Stats", "# Keyspace", "# Cluster", "redis_version:", "connected_clients:", fmt.Sprintf("weir_members:%d", members)} {
		require.Contains(t, info, s)
	}
	require.NotContains(t, rc.Info(ctx, "server").Val(), "# Cluster")
	n, err := rc.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Positive(t, n)
	cmds, err := rc.Command(ctx).Result()
	require.NoError(t, err)
	require.Contains(t, cmds, "hgetall")
	require.EqualValues(t, 2, cmds["get"].Arity)

	// SCAN walks the default map to the end.
	seen := 0
	var cursor uint64
	for {
		keys, next, err := rc.Scan(ctx, cursor, "*", 50).Result()
		require.NoError(t, err)
		seen += len(keys)
		if cursor = next; cursor == 0 {
			break
		}
	}
	require.EqualValues(t, n, seen)
}
