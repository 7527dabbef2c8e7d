// Package clustertest starts clusters of in-process members on loopback for
// tests, so a test reads as a scenario: start three members, crash one,
// check what the others see.
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/member"
)

// Cluster is a set of members started by a test.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	members []*member.Member
	base    member.Config
}

// Services are the services every member a test starts serves, in
// attachment order. A test package sets them in its TestMain: grid's tests
// give grid.Service, dag's grid.Service and dag.Service. This harness cannot
// import those packages itself, whose own tests use it. Members of member's
// own tests serve none: an empty, non-nil list. Left nil, starting a member
// fails the test, naming the omission.
var Services []member.Service

// Config returns member.LocalConfig with test-friendly settings: logs go to
// the test log only when WEIR_TEST_LOG is set.
//
// Under the race detector, failure detection is three times as patient:
// the detector slows every member several times over, and on a busy
// machine a member stood still for seconds, so that the survivors of a
// crash took each other for dead again and again.
func Config(t testing.TB) member.Config {
	cfg := member.LocalConfig()
	cfg.Logger = Logger(t)
	if raceEnabled {
		g := &cfg.Gossip
		g.ProbeInterval *= 3
		g.ProbeTimeout *= 3
		g.TCPTimeout *= 3
	}
	return cfg
}

// Logger discards logs unless WEIR_TEST_LOG is set: to "debug" for more, to
// "stderr" to write straight to standard error.
func Logger(t testing.TB) *slog.Logger {
	switch os.Getenv("WEIR_TEST_LOG") {
	case "":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "debug":
		return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	case "stderr": // survives a test that panics or times out
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	default:
		return slog.New(slog.NewTextHandler(newTWriter(t), nil))
	}
}

// tWriter writes to the test's log until the test's cleanups have run;
// testing panics on a Log after the test completed, and gossip goroutines
// of a member that is shutting down may still log a line.
type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// Start starts n members with cfg (zero Config: Config(t)), each joining the
// first, and waits until every member sees all n and the same table. Members
// are shut down at the end of the test.
func Start(t testing.TB, n int, cfg member.Config) *Cluster {
	t.Helper()
	if reflect.ValueOf(cfg).IsZero() {
		cfg = Config(t)
	} else if cfg.ClusterName == "" {
		t.Fatal("clustertest.Start: start from clustertest.Config(t) and adjust it; a partial Config would lose the fields set")
	}
	c := &Cluster{t: t, base: cfg}
	t.Cleanup(c.Shutdown)
	for range n {
		c.Add(func(*member.Config) {})
	}
	c.WaitStable(n)
	return c
}

// Add starts one more member joining the cluster, after adjusting its config.
func (c *Cluster) Add(adjust func(*member.Config)) *member.Member {
	c.t.Helper()
	cfg := c.base
	c.mu.Lock()
	for _, m := range c.members {
		if !m.IsClosed() {
			cfg.Join = []string{m.Addr()}
			break
		}
	}
	c.mu.Unlock()
	adjust(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if Services == nil {
		c.t.Fatal("clustertest.Services is not set: set it in the package's TestMain (weir.Services(), or an empty list for members with no services)")
	}
	m, err := member.Start(ctx, cfg, Services...)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m
}

// Members returns the members started, including stopped ones.
func (c *Cluster) Members() []*member.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members)
}

// Live returns the members not shut down or terminated.
func (c *Cluster) Live() []*member.Member {
	var live []*member.Member
	for _, m := range c.Members() {
		if !m.IsClosed() {
			live = append(live, m)
		}
	}
	return live
}

// WaitStable waits until every live member sees n members and the cluster
// has settled (member.WaitSettled): every member holds the same table,
// owned only by live data members, balanced, with its backups placed.
func (c *Cluster) WaitStable(n int) {
	c.t.Helper()
	const timeout = 60 * time.Second
	var last string
	ok := waitFor(timeout, func() bool {
		for _, m := range c.Live() {
			if got := len(m.Members()); got != n {
				last = fmt.Sprintf("member %s sees %d members, want %d", m.Name(), got, n)
				return false
			}
		}
		return true
	})
	if !ok {
		c.t.Fatalf("cluster did not stabilise on %d members: %s", n, last)
	}
	live := c.Live()
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := live[0].WaitSettled(ctx); err != nil {
		c.t.Fatalf("cluster did not stabilise on %d members: %v", n, err)
	}
}

// DataMembers returns the IDs of the non-lite members.
func DataMembers(ms []*member.Member) []string {
	var ids []string
	for _, m := range ms {
		if !m.Config().Lite {
			ids = append(ids, m.ID())
		}
	}
	return ids
}

// Shutdown shuts every live member down gracefully.
func (c *Cluster) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range c.Live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.Shutdown(ctx)
		}()
	}
	wg.Wait()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}
