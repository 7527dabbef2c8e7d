package chaos_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/member"
)

// cluster is member processes and an in-process lite member that joined
// them.
type cluster struct {
	t     testing.TB
	procs map[string]*proctest.Proc // live processes by member ID
	all   []*proctest.Proc          // every process started
	obs   *member.Member
	n     int // processes started
}

func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts member processes")
	}
	c := &cluster{t: t, procs: map[string]*proctest.Proc{}}
	t.Cleanup(c.keepLogs)
	first := c.add("")
	for range n - 1 {
		c.add(first.GossipAddr)
	}
	cfg := clustertest.Config(t)
	cfg.Lite = true
	cfg.Join = []string{first.GossipAddr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = obs.Shutdown(ctx)
	})
	c.obs = obs
	c.waitStable()
	return c
}

// add starts a member process joining at addr ("" for the first).
func (c *cluster) add(addr string) *proctest.Proc {
	c.n++
	args := []string{"--log-level", "debug"}
	if addr != "" {
		args = append(args, "--join", addr)
	}
	p := proctest.StartMember(c.t, fmt.Sprintf("p%d", c.n), args...)
	c.procs[p.ID] = p
	c.all = append(c.all, p)
	return p
}

// keepLogs keeps every process's output when the test failed.
func (c *cluster) keepLogs() { proctest.KeepLogs(c.t, "weir-chaos-", c.all) }

// replace starts a new member process in place of a killed one.
func (c *cluster) replace() *proctest.Proc {
	p := c.add(c.obs.Addr())
	c.waitStable()
	return p
}

// waitStable waits until the lite member sees every live process and a
// balanced table over them.
func (c *cluster) waitStable() {
	c.t.Helper()
	ids := c.live()
	var last error
	ok := pollUntil(time.Minute, func() bool {
		if n := len(c.obs.Members()); n != len(ids)+1 {
			last = fmt.Errorf("the lite member sees %d members, want %d", n, len(ids)+1)
			return false
		}
		t := c.obs.Partitions()
		if t == nil {
			last = fmt.Errorf("no table")
			return false
		}
		last = t.CheckPlacement(ids, 1)
		return last == nil
	})
	require.True(c.t, ok, "the cluster never settled: %v", last)
}

// coordinator is the process coordinating the cluster (and its jobs).
func (c *cluster) coordinator() *proctest.Proc {
	c.t.Helper()
	p, ok := c.coordinatorProc()
	require.True(c.t, ok, "the coordinator is not a member process")
	return p
}

// coordinatorProc is the coordinating process, if a process coordinates
// (the lite member does once it is the oldest).
func (c *cluster) coordinatorProc() (*proctest.Proc, bool) {
	info, ok := c.obs.Coordinator()
	if !ok {
		return nil, false
	}
	p, ok := c.procs[info.ID]
	return p, ok
}

// other is a live process that does not coordinate.
func (c *cluster) other() *proctest.Proc {
	coord, _ := c.coordinatorProc()
	for _, id := range slices.Sorted(maps.Keys(c.procs)) {
		if p := c.procs[id]; p != coord {
			return p
		}
	}
	c.t.Fatal("no process other than the coordinator")
	return nil
}

// kill sends SIGKILL to p.
func (c *cluster) kill(p *proctest.Proc) {
	p.Kill()
	delete(c.procs, p.ID)
}

var pollUntil = clustertest.PollUntil

var snapshotStarted = regexp.MustCompile(`msg="snapshot started"`)

// startCountJob starts the counting job through the lite member, with a
// snapshot every interval and a short scale-up delay.
func startCountJob(t testing.TB, c *cluster, g dag.Guarantee, interval time.Duration) *jobtest.Count {
	t.Helper()
	return jobtest.StartCount(t, c.obs, dag.WithGuarantee(g), dag.WithSnapshotInterval(interval), dag.WithScaleUpDelay(500*time.Millisecond))
}

// live lists the IDs of the live processes.
func (c *cluster) live() []string { return slices.Sorted(maps.Keys(c.procs)) }
