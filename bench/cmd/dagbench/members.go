package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/weir-dev/weir/member"
)

// logLevel shows the members' warnings and errors only: a benchmark run
// should print its table, not the cluster's chatter. Teardown raises it,
// since members that see the others vanish warn about it.
var logLevel = func() *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(slog.LevelWarn)
	return v
}()

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

// cluster is a set of in-process data members started with
// member.LocalConfig. Jobs submitted to any of them run on all of them.
type cluster struct {
	members []*member.Member
}

// startCluster starts n members, each joining the first, then waits until
// every member sees the others and holds the same table.
func startCluster(ctx context.Context, name string, n int) (*cluster, error) {
	return startClusterLogging(ctx, name, n, logger)
}

// startClusterLogging is startCluster with the members logging to log.
func startClusterLogging(ctx context.Context, name string, n int, log *slog.Logger) (*cluster, error) {
	c := &cluster{}
	for i := range n {
		cfg := member.LocalConfig()
		// The benchmark keeps every core busy, and LocalConfig's 100ms probe
		// timeout then suspects live members; the LAN timings tolerate it.
		cfg.Gossip = member.DefaultConfig().Gossip
		cfg.Name = fmt.Sprintf("%s-%d", name, i+1)
		cfg.Logger = log
		if len(c.members) > 0 {
			cfg.Join = []string{c.members[0].Addr()}
		}
		m, err := member.Start(ctx, cfg)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("start member %s: %w", cfg.Name, err)
		}
		c.members = append(c.members, m)
	}
	if err := c.waitStable(ctx, 60*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitStable polls until every member sees all the others and the same
// table, in which each member owns partitions: a job planned now runs on
// every member, and no migration disturbs the measurements.
func (c *cluster) waitStable(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		last := c.unstable()
		if last == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster did not stabilise in %v: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unstable says what is not settled yet, or "" when everything is.
func (c *cluster) unstable() string {
	first := c.members[0].Partitions()
	for _, m := range c.members {
		if n := len(m.Members()); n != len(c.members) {
			return fmt.Sprintf("%s sees %d members", m.Name(), n)
		}
		t := m.Partitions()
		if t == nil || first == nil || t.Version() != first.Version() {
			return fmt.Sprintf("%s has another table", m.Name())
		}
		if len(t.Owned(m.ID())) == 0 {
			return fmt.Sprintf("%s owns no partition", m.Name())
		}
	}
	return ""
}

// stop terminates every member at once. A graceful Shutdown would first
// migrate every partition to the members still up, which costs time and
// proves nothing here.
func (c *cluster) stop() {
	logLevel.Set(slog.LevelError + 1)
	defer logLevel.Set(slog.LevelWarn)
	for _, m := range c.members {
		m.Terminate()
	}
}
