package resp_test

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/resp"
)

// redisCLI runs redis-cli against addr with args, feeding it stdin, and
// returns what it printed.
func redisCLI(t *testing.T, addr, stdin string, args ...string) string {
	path, err := exec.LookPath("redis-cli")
	require.NoError(t, err, "redis-cli is needed: apt-get install -y redis-tools (.ci/run installs it)")
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	cmd := exec.CommandContext(clustertest.Ctx(t, time.Minute), path, append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "redis-cli: %s", out)
	return string(out)
}

// redis-cli, scripted, against a member: the commands of the README's
// tour, in RESP2 and RESP3, and --scan.
func TestRedisCLI(t *testing.T) {
	c := startCluster(t, 2, nil)
	m := c.Members()[0]
	a := addr(t, m)
	script := `SET greeting hello
GET greeting
APPEND greeting ", world"
INCR visits
INCRBY visits 41
SET session abc EX 100
TTL session
HSET vehicles truck-7 18000 van-2 3500
HGET vehicles truck-7
HLEN vehicles
GET nothing
INCR greeting
SELECT 3
`
	want := `OK
hello
12
1
42
OK
100
2
18000
2

ERR value is not an integer or out of range

ERR DB index is out of range

`
	require.Equal(t, want, redisCLI(t, a, script))
	require.True(t, strings.HasPrefix(redisCLI(t, a, "HELLO 3\n", "-3"), "server redis\nversion 7.2.0\nproto 3\n"))
	all := redisCLI(t, a, "HGETALL vehicles\n", "-3", "--no-raw")
	require.Contains(t, all, `"truck-7" => "18000"`, "a RESP3 map:\n%s", all)

	keys := strings.Fields(redisCLI(t, a, "", "--scan"))
	require.ElementsMatch(t, []string{"greeting", "visits", "session"}, keys)

	// What redis-cli wrote, the Go API reads.
	ctx := clustertest.Ctx(t, time.Minute)
	v, ok, err := grid.GetMap[string, string](c.Members()[1], "vehicles").Get(ctx, "van-2")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "3500", v)
	v, _, err = grid.GetMap[string, string](c.Members()[1], resp.DefaultMap).Get(ctx, "greeting")
	require.NoError(t, err)
	require.Equal(t, "hello, world", v)
}
