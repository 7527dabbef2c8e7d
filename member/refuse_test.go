package member_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

func TestJoinRefusals(t *testing.T) {
	t.Parallel()
	seedCfg := clustertest.Config(t)
	seedCfg.SecretKey = nil
	seed, err := member.Start(ctxT(t, 10*time.Second), seedCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = seed.Shutdown(ctxT(t, 10*time.Second)) })

	secretCfg := clustertest.Config(t)
	secretCfg.SecretKey = []byte("right secret")
	secretSeed, err := member.Start(ctxT(t, 10*time.Second), secretCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = secretSeed.Shutdown(ctxT(t, 10*time.Second)) })

	cases := []struct {
		name   string
		join   *member.Member
		adjust func(*member.Config)
		want   string
	}{
		{"cluster name", seed, func(c *member.Config) { c.ClusterName = "other" }, `cluster name mismatch`},
		{"partition count", seed, func(c *member.Config) { c.PartitionCount = 13 }, "partition count mismatch"},
		{"wrong secret", secretSeed, func(c *member.Config) { c.SecretKey = []byte("wrong secret") }, "secret key"},
		{"missing secret", secretSeed, func(c *member.Config) {}, "may require a secret key"},
		{"unexpected secret", seed, func(c *member.Config) { c.SecretKey = []byte("x") }, "may use no secret key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clustertest.Config(t)
			cfg.Join = []string{tc.join.Addr()}
			cfg.RejoinInterval = 0
			cfg.Gossip.TCPTimeout = 500 * time.Millisecond
			tc.adjust(&cfg)
			m, err := member.Start(ctxT(t, 20*time.Second), cfg)
			if m != nil {
				_ = m.Shutdown(ctxT(t, 5*time.Second))
			}
			require.ErrorIs(t, err, member.ErrJoin)
			require.ErrorContains(t, err, tc.want)
			t.Logf("error: %v", err)
		})
	}
	require.Len(t, seed.Members(), 1, "nobody was let in")
	require.Len(t, secretSeed.Members(), 1)
}

func TestSecretClusterWorks(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.SecretKey = []byte("shared")
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	_, err := member.HostOf(ms[0]).Call(ctxT(t, 5*time.Second), ms[2].ID(), "member.table.get", nil)
	require.NoError(t, err)
}

// TestHandshakeRefusesWithReason speaks the transport handshake by hand.
func TestHandshakeRefusesWithReason(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	m, err := member.Start(ctxT(t, 10*time.Second), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown(ctxT(t, 10*time.Second)) })

	hello := func(cluster string, partitions int, to string) string {
		nc, err := net.Dial("tcp", m.TransportAddr())
		require.NoError(t, err)
		defer nc.Close()
		payload, err := msgpack.Marshal(map[string]any{
			"c": cluster, "p": 2, "n": partitions, "f": "intruder", "t": to, "o": make([]byte, 16),
		})
		require.NoError(t, err)
		frame, err := wire.AppendFrame(nil, &wire.Header{Kind: wire.KindHandshake}, payload)
		require.NoError(t, err)
		_, err = nc.Write(frame)
		require.NoError(t, err)
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := wire.NewReader(nc, 1<<20).ReadFrame()
		require.NoError(t, err)
		var reply map[string]any
		require.NoError(t, wire.Unmarshal(p, &reply))
		r, _ := reply["r"].(string)
		return r
	}
	require.Contains(t, hello("other", 271, m.ID()), "cluster name mismatch")
	require.Contains(t, hello("weir", 7, m.ID()), "partition count mismatch")
	require.Contains(t, hello("weir", 271, "someone-else"), "wrong member")
	require.Empty(t, hello("weir", 271, m.ID()), "a correct hello gets a welcome")
}

// nopService is a service with nothing to do, for composition tests.
type nopService struct{}

func (nopService) Shutdown(context.Context) error { return nil }

func serviceNamed(name string) member.Service {
	return member.Service{Name: name, Attach: func(*member.Host) (member.Attached, error) { return nopService{}, nil }}
}

// A data member must serve what the cluster's data members serve: one
// without the maps could be given partitions it cannot hold. Lite members
// hold none and may serve less.
func TestJoinRefusesDataMemberWithOtherServices(t *testing.T) {
	t.Parallel()
	seedCfg := clustertest.Config(t)
	seed, err := member.Start(ctxT(t, 10*time.Second), seedCfg, serviceNamed("maps"), serviceNamed("jobs"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = seed.Shutdown(ctxT(t, 10*time.Second)) })
	require.Equal(t, []string{"maps", "jobs"}, seed.ServiceNames())

	join := func(t *testing.T, lite bool, services ...member.Service) (*member.Member, error) {
		cfg := clustertest.Config(t)
		cfg.Join = []string{seed.Addr()}
		cfg.RejoinInterval = 0
		cfg.Lite = lite
		cfg.Gossip.TCPTimeout = 500 * time.Millisecond
		m, err := member.Start(ctxT(t, 20*time.Second), cfg, services...)
		if m != nil {
			t.Cleanup(func() { _ = m.Shutdown(ctxT(t, 10*time.Second)) })
		}
		return m, err
	}
	t.Run("data member with no services", func(t *testing.T) {
		_, err := join(t, false)
		require.ErrorIs(t, err, member.ErrJoin)
		require.ErrorContains(t, err, "services mismatch")
		require.ErrorContains(t, err, "serves [maps jobs]")
		require.ErrorContains(t, err, "no services")
	})
	t.Run("data member with a service missing", func(t *testing.T) {
		_, err := join(t, false, serviceNamed("maps"))
		require.ErrorContains(t, err, "services mismatch")
	})
	require.Len(t, seed.Members(), 1, "nobody was let in")

	t.Run("data member with the same services in another order", func(t *testing.T) {
		m, err := join(t, false, serviceNamed("jobs"), serviceNamed("maps"))
		require.NoError(t, err)
		info, ok := seed.MemberByID(m.ID())
		require.True(t, ok)
		require.ElementsMatch(t, []string{"maps", "jobs"}, info.Services)
	})
	t.Run("data member with an extra local service", func(t *testing.T) {
		endpoint := serviceNamed("endpoint")
		endpoint.Local = true
		m, err := join(t, false, serviceNamed("maps"), serviceNamed("jobs"), endpoint)
		require.NoError(t, err)
		require.Equal(t, []string{"maps", "jobs", "endpoint"}, m.ServiceNames())
		info, ok := seed.MemberByID(m.ID())
		require.True(t, ok)
		require.ElementsMatch(t, []string{"maps", "jobs"}, info.Services, "local services are not advertised")
	})
	t.Run("lite member with no services", func(t *testing.T) {
		_, err := join(t, true)
		require.NoError(t, err)
	})
}

func TestStartRefusesBadServices(t *testing.T) {
	t.Parallel()
	attach := func(*member.Host) (member.Attached, error) { return nopService{}, nil }
	_, err := member.Start(ctxT(t, 5*time.Second), clustertest.Config(t),
		member.Service{Name: "a", Attach: attach}, member.Service{Name: "a", Attach: attach}, member.Service{Attach: attach}, member.Service{Name: "b"})
	require.ErrorContains(t, err, `service "a" given twice`)
	require.ErrorContains(t, err, "service 2 has no name")
	require.ErrorContains(t, err, `service "b" has no Attach function`)

	// A service whose Attach fails stops Start, and those attached before it
	// are shut down.
	var shut []string
	svc := func(name string, fail bool) member.Service {
		return member.Service{Name: name, Attach: func(*member.Host) (member.Attached, error) {
			if fail {
				return nil, errors.New("no disk")
			}
			return shutdownFunc(func() { shut = append(shut, name) }), nil
		}}
	}
	_, err = member.Start(ctxT(t, 5*time.Second), clustertest.Config(t), svc("first", false), svc("second", false), svc("third", true))
	require.ErrorContains(t, err, "attach service third: no disk")
	require.Equal(t, []string{"second", "first"}, shut)
}

type shutdownFunc func()

func (f shutdownFunc) Shutdown(context.Context) error { f(); return nil }
