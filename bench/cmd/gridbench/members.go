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
// should print its table, not the cluster's chatter. Teardown raises it, since
// members that see the others vanish warn about it.
var logLevel = func() *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(slog.LevelWarn)
	return v
}()

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

// cluster is a set of in-process members started with member.LocalConfig.
type cluster struct {
	members []*member.Member
}

// startCluster starts data members (each joining the first) and lite lite
// members, then waits until every member holds the same balanced table.
func startCluster(ctx context.Context, data, lite int) (*cluster, error) {
	c := &cluster{}
	for i := range data + lite {
		cfg := member.LocalConfig()
		cfg.Name = fmt.Sprintf("bench-%d", i+1)
		cfg.Lite = i >= data
		cfg.Logger = logger
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
	if err := c.waitStable(ctx, data, 60*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// data returns the members that own partitions.
func (c *cluster) data() []*member.Member {
	var out []*member.Member
	for _, m := range c.members {
		if !m.Config().Lite {
			out = append(out, m)
		}
	}
	return out
}

// lite returns the members that own no partitions.
func (c *cluster) lite() []*member.Member {
	var out []*member.Member
	for _, m := range c.members {
		if m.Config().Lite {
			out = append(out, m)
		}
	}
	return out
}

// waitStable polls until every member sees all the others and the same
// table, in which each data member owns partitions and every partition has
// its full set of replicas: migrations are over and measurements will not
// be disturbed by them.
func (c *cluster) waitStable(ctx context.Context, data int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no check yet"
	for {
		if last = c.unstable(data); last == "" {
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
func (c *cluster) unstable(data int) string {
	first := c.members[0].Partitions()
	for _, m := range c.members {
		if n := len(m.Members()); n != len(c.members) {
			return fmt.Sprintf("%s sees %d members", m.Name(), n)
		}
		t := m.Partitions()
		if t == nil || first == nil || t.Version() != first.Version() {
			return fmt.Sprintf("%s has another table", m.Name())
		}
	}
	replicas := min(c.members[0].Config().BackupCount, data-1) + 1
	for p := range first.Count() {
		if n := len(first.Replicas(p)); n != replicas {
			return fmt.Sprintf("partition %d has %d replicas, want %d", p, n, replicas)
		}
	}
	for _, m := range c.data() {
		if len(first.Owned(m.ID())) == 0 {
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
