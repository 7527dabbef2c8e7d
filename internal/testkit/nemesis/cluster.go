package nemesis

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/member"
)

// Ports every member uses in its own namespace.
const (
	gossipPort    = "7946"
	transportPort = "5701"
)

// Cluster is one "weir member" process per host of a Net (the binary
// proctest builds, with the test jobs and processors), and a lite member
// in the test process, bound to the bridge, through which the test's
// clients work and watch.
type Cluster struct {
	t   testing.TB
	Net *Net
	// Quorum is the members' MinClusterSize.
	Quorum int
	// Backups is the members' BackupCount.
	Backups int
	Client  *member.Member

	procs []*proctest.Proc // by host; the latest process started there
	all   []*proctest.Proc // every process started, for the logs
	down  []bool           // killed and not restarted
}

// StartCluster starts a member on each of n new hosts, with the given
// number of backups and MinClusterSize quorum, and the client, and waits
// until the cluster has settled.
func StartCluster(t testing.TB, n, quorum, backups int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Net: NewNet(t, n), Quorum: quorum, Backups: backups, procs: make([]*proctest.Proc, n), down: make([]bool, n)}
	t.Cleanup(c.keepLogs)
	for h := range n {
		c.start(h)
	}
	cfg := clustertest.Config(t)
	cfg.Name = "client"
	cfg.Lite = true
	cfg.MinClusterSize = quorum
	cfg.BackupCount = backups
	cfg.BindAddr = c.Net.ClientIP + ":0"
	cfg.TransportAddr = c.Net.ClientIP + ":0"
	cfg.Join = []string{c.Net.Hosts[0].IP + ":" + gossipPort}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	c.Client = client
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = client.Shutdown(ctx)
	})
	require.NoError(t, c.Settle(time.Minute))
	return c
}

// Name is the member name of host h.
func Name(h int) string { return fmt.Sprintf("m%d", h+1) }

// start starts host h's member, joining the first other host that is up.
func (c *Cluster) start(h int) {
	c.t.Helper()
	ip := c.Net.Hosts[h].IP
	args := []string{"--bind", ip + ":" + gossipPort, "--transport", ip + ":" + transportPort,
		"--min-cluster-size", fmt.Sprint(c.Quorum), "--backups", fmt.Sprint(c.Backups), "--log-level", "info"}
	for o := range c.Net.Hosts {
		if o != h && c.procs[o] != nil && !c.down[o] {
			args = append(args, "--join", c.Net.Hosts[o].IP+":"+gossipPort)
			break
		}
	}
	p := proctest.StartMemberIn(c.t, c.Net.Wrap(h), Name(h), args...)
	c.procs[h], c.down[h] = p, false
	c.all = append(c.all, p)
}

// Kill sends SIGKILL to host h's member.
func (c *Cluster) Kill(h int) {
	c.procs[h].Kill()
	c.down[h] = true
}

// Restart starts a new member process on host h, under the same name and
// addresses, once the cluster no longer lists the killed one (a member
// that comes back before it was found dead is another fault).
func (c *Cluster) Restart(h int) error {
	old := c.procs[h].ID
	gone := clustertest.PollUntil(30*time.Second, func() bool {
		return !slices.ContainsFunc(c.Client.Members(), func(i member.Info) bool { return i.ID == old })
	})
	c.start(h)
	if !gone {
		return fmt.Errorf("the client still listed the killed %s after 30s; restarted it anyway", Name(h))
	}
	return nil
}

// Pause sends SIGSTOP to host h's member; Resume sends SIGCONT.
func (c *Cluster) Pause(h int)  { c.procs[h].Pause() }
func (c *Cluster) Resume(h int) { c.procs[h].Resume() }

// Coordinator is the host whose member coordinates, or -1 (the client, or
// none).
func (c *Cluster) Coordinator() int {
	info, ok := c.Client.Coordinator()
	if !ok {
		return -1
	}
	for h, p := range c.procs {
		if p != nil && p.ID == info.ID {
			return h
		}
	}
	return -1
}

// Settle waits up to d until the client sees every host's member that is
// up, and a full table balanced over them with c.Backups backups each.
func (c *Cluster) Settle(d time.Duration) error {
	var ids []string
	for h, p := range c.procs {
		if !c.down[h] {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	var last error
	ok := clustertest.PollUntil(d, func() bool {
		var data []string
		for _, m := range c.Client.Members() {
			if !m.Lite {
				data = append(data, m.ID)
			}
		}
		slices.Sort(data)
		tb := c.Client.Partitions()
		switch {
		case !slices.Equal(data, ids):
			last = fmt.Errorf("the client sees data members %v, want %v", data, ids)
		case tb == nil:
			last = fmt.Errorf("no table")
		default:
			last = tb.CheckPlacement(ids, c.Backups)
		}
		return last == nil
	})
	if !ok {
		return fmt.Errorf("the cluster did not settle within %v: %v", d, last)
	}
	return nil
}

// keepLogs keeps every member process's output when the test failed.
func (c *Cluster) keepLogs() { proctest.KeepLogs(c.t, "weir-nemesis-", c.all) }
