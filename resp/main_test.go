package resp_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/resp"
)

// testLimits are small, so that the tests of hostile clients reach them
// quickly.
var testLimits = resp.Limits{MaxRequest: 1 << 20, WriteTimeout: time.Second, PubSubBuffer: 1024}

func TestMain(m *testing.M) {
	clustertest.Services = []member.Service{grid.Service(), resp.Service(resp.Options{Limits: testLimits})}
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}

// startCluster starts n members, each serving RESP on a free port of
// loopback.
func startCluster(t *testing.T, n int, adjust func(*member.Config)) *clustertest.Cluster {
	cfg := clustertest.Config(t)
	cfg.RESPAddr = "127.0.0.1:0"
	if adjust != nil {
		adjust(&cfg)
	}
	return clustertest.Start(t, n, cfg)
}

// addr is the RESP address of m.
func addr(t *testing.T, m *member.Member) string {
	s := resp.Of(m)
	require.NotNil(t, s, "member serves no RESP")
	require.NotEmpty(t, s.Addr())
	return s.Addr()
}

// dial returns a go-redis client of m speaking protocol version proto,
// closed at the end of the test. It does not retry: a test that counts
// acknowledged writes must know each command was sent once.
func dial(t *testing.T, m *member.Member, proto int, opts ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: addr(t, m), Protocol: proto, MaxRetries: -1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
