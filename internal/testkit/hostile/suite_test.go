package hostile_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/hostile"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// rssMiB is the resident memory of process pid, from /proc.
func rssMiB(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(t, err)
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// The attacks of issue 16, each against a real member process without a
// secret, which must keep serving a legitimate client (an in-process member
// of its cluster reading and writing a map) with its resident memory
// growing by less than the bound stated per attack. The default run is
// scaled down to a few seconds; WEIR_SOAK (see clustertest.Soak) runs the
// attacks at the sizes of the issue.
func TestHostileInputAgainstAMemberProcess(t *testing.T) {
	scale := 1
	if os.Getenv(clustertest.SoakEnv) != "" && !testing.Short() {
		scale = 4
	}
	// To measure an older build: WEIR_TEST_BINARY=<its weir binary>
	// WEIR_HOSTILE_PROTOCOL=<its protocol>; the bounds then fail, the figures
	// logged are what the attacks cost it.
	if v := os.Getenv("WEIR_HOSTILE_PROTOCOL"); v != "" {
		hostile.Protocol, _ = strconv.Atoi(v)
	}
	p := proctest.StartMember(t, "target")
	// Another build (WEIR_TEST_BINARY) may not admit this one's members:
	// then only the attacks' cost is measured.
	other := os.Getenv("WEIR_TEST_BINARY") != ""
	cfg := clustertest.Config(t)
	cfg.Join = []string{p.GossipAddr}
	cfg.Lite = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var client *member.Member
	if !other {
		var err error
		client, err = weir.Start(ctx, cfg)
		require.NoError(t, err)
		defer client.Shutdown(context.Background())
	}
	serves := func(what string) {
		t.Helper()
		for i := range 20 {
			if other {
				break
			}
			mp := grid.GetMap[string, int](client, "legit")
			k := fmt.Sprintf("%s-%d", what, i)
			require.NoError(t, mp.Put(ctx, k, i), "after %s the member serves a legitimate client", what)
			v, ok, err := mp.Get(ctx, k)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, i, v)
		}
		select {
		case <-p.Exited():
			t.Fatalf("the member exited after %s:\n%s", what, p.Output())
		default:
		}
	}
	serves("start")
	base := rssMiB(t, p.PID())
	attack := func(name string, boundMiB float64, run func()) {
		t.Helper()
		before := rssMiB(t, p.PID())
		start := time.Now()
		run()
		serves(name)
		grown := rssMiB(t, p.PID()) - before
		t.Logf("%-28s RSS %+.1f MiB (bound %.0f MiB), %v", name, grown, boundMiB, time.Since(start).Round(time.Millisecond))
		if grown > boundMiB {
			t.Errorf("%s: RSS grew by %.1f MiB, bound %.0f MiB", name, grown, boundMiB)
		}
	}
	handshake := func() net.Conn {
		nc, err := hostile.Handshake(p.TransportAddr, "weir", p.ID, 271)
		require.NoError(t, err)
		return nc
	}

	attack("push/pull bomb", 48, func() {
		for range 16 * scale {
			nc, err := hostile.PushPullBomb(p.GossipAddr, 1<<20)
			require.NoError(t, err)
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = nc.Read(make([]byte, 1))
			_ = nc.Close()
		}
	})
	attack("amplified map.batch", 64, func() {
		nc := handshake()
		defer nc.Close()
		r := wire.NewReader(nc, 64<<20)
		for i := range 2 * scale {
			require.NoError(t, hostile.Request(nc, uint64(i+1), "map.batch", hostile.AmplifiedBatch(1<<20)))
			_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			h, _, err := r.ReadFrame()
			require.NoError(t, err)
			assert.Contains(t, h.Message, "invalid msgpack", "the request is refused")
		}
	})
	attack("deep nesting", 16, func() {
		nc := handshake()
		defer nc.Close()
		deep := append([]byte(strings.Repeat("\x91", 100_000)), 0xc0)
		require.NoError(t, hostile.Request(nc, 1, "map.batch", deep))
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, _, err := wire.NewReader(nc, 1<<20).ReadFrame()
		require.NoError(t, err)
		assert.Contains(t, h.Message, "invalid msgpack")
	})
	attack("stalled frames", 64, func() {
		var conns []net.Conn
		for range 8 * scale {
			nc := handshake()
			conns = append(conns, nc)
			require.NoError(t, hostile.StalledFrame(nc, 60<<20, 256<<10))
		}
		for _, nc := range conns {
			_ = nc.Close()
		}
	})
	attack("unfinished handshakes", 48, func() {
		var conns []net.Conn
		for range 500 * scale {
			nc, err := net.Dial("tcp", p.TransportAddr)
			if err != nil {
				break
			}
			_, _ = nc.Write([]byte{0, 0, 0x10, 0, 0, 2}) // a frame begun, never finished
			conns = append(conns, nc)
		}
		for _, nc := range conns {
			_ = nc.Close()
		}
	})
	attack("garbage frames", 16, func() {
		for _, b := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), {0xff, 0xff, 0xff, 0xff, 0, 0}, {0, 0, 0, 4, 0, 2, 0xc1, 0xc1}} {
			nc, err := net.Dial("tcp", p.TransportAddr)
			require.NoError(t, err)
			_, _ = nc.Write(b)
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = nc.Read(make([]byte, 64))
			require.True(t, err != nil && !errors.Is(err, os.ErrDeadlineExceeded), "the member closes a connection that sends garbage")
			_ = nc.Close()
		}
	})
	t.Logf("RSS of the member: %.1f MiB before the attacks, %.1f MiB after", base, rssMiB(t, p.PID()))
	if !other {
		require.Len(t, client.Members(), 2, "the member never left its cluster")
	}
}
