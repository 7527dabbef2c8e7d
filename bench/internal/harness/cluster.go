package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/resp"
)

// logLevel shows the members' warnings and errors only: a benchmark run
// should print its table, not the cluster's chatter. Stop raises it, since
// members that see the others vanish warn about it.
var logLevel = func() *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(slog.LevelWarn)
	return v
}()

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

// Logger returns the logger members use unless ClusterConfig.Logger says
// otherwise: text on stderr, warnings and errors only, silent while a
// cluster stops. A handler that wraps it (to keep some records) inherits
// that level.
func Logger() *slog.Logger { return logger }

// stableTimeout bounds how long StartCluster waits for the cluster to settle.
const stableTimeout = 60 * time.Second

// ClusterConfig says which members StartCluster starts. Every member starts
// from member.LocalConfig, on loopback.
type ClusterConfig struct {
	// Name prefixes the members' names: Name-1, Name-2 and so on.
	Name string
	// Data is how many members own partitions; at least 1.
	Data int
	// Lite is how many lite members (owning no partition) join after the
	// data members.
	Lite int
	// LANGossip gives the members member.DefaultConfig's failure-detector
	// timings instead of LocalConfig's. A benchmark that keeps every core
	// busy can delay a probe's answer past LocalConfig's 100ms timeout, and
	// the members then suspect others that are alive.
	LANGossip bool
	// FullReplicas makes StartCluster also wait until every partition has
	// its owner and all its backups (BackupCount of them, or Data-1 if that
	// is fewer), so that the migrations that fill in backups are over
	// before a measurement starts, not during it.
	FullReplicas bool
	// RESP has every data member serve Redis clients on a free loopback
	// port (member.Config.RESPAddr; see resp.Of for the address).
	RESP bool
	// RESPNearCache gives those endpoints a near cache (resp.Options).
	RESPNearCache bool
	// Logger receives the members' logs. Default: Logger().
	Logger *slog.Logger
	// HTTP gives every member its HTTP endpoint (package ops) on a free
	// loopback port: metrics on, as "weir member" runs by default.
	HTTP bool
}

func (c ClusterConfig) validate() error {
	var errs []error
	if c.Data < 1 {
		errs = append(errs, fmt.Errorf("cluster %q: %d data members, want at least 1", c.Name, c.Data))
	}
	if c.Lite < 0 {
		errs = append(errs, fmt.Errorf("cluster %q: %d lite members", c.Name, c.Lite))
	}
	return errors.Join(errs...)
}

// Cluster is a set of members started in this process by StartCluster.
type Cluster struct {
	// Members are the data members, then the lite ones, in the order they
	// started; every other member joined the first. Read-only.
	Members []*member.Member
	cfg     ClusterConfig
}

// StartCluster starts the members cfg asks for, each joining the first,
// then waits until every member sees all the others and holds the same
// table, in which every data member owns partitions: a job planned or a
// map used now reaches every member, and no migration disturbs the
// measurements. If anything fails, it terminates the members it started.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = logger
	}
	c := &Cluster{cfg: cfg}
	for i := range cfg.Data + cfg.Lite {
		mc := member.LocalConfig()
		if cfg.LANGossip {
			mc.Gossip = member.DefaultConfig().Gossip
		}
		mc.Name = fmt.Sprintf("%s-%d", cfg.Name, i+1)
		mc.Lite = i >= cfg.Data
		if cfg.RESP && !mc.Lite {
			mc.RESPAddr = "127.0.0.1:0"
		}
		mc.Logger = cfg.Logger
		if cfg.HTTP {
			mc.HTTPAddr = "127.0.0.1:0"
		}
		if len(c.Members) > 0 {
			mc.Join = []string{c.Members[0].Addr()}
		}
		var extra []member.Service
		if cfg.RESPNearCache {
			extra = append(extra, resp.Service(resp.Options{NearCache: true}))
		}
		m, err := weir.Start(ctx, mc, extra...)
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("start member %s: %w", mc.Name, err)
		}
		c.Members = append(c.Members, m)
	}
	if err := c.waitStable(ctx, stableTimeout); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Data returns the members that own partitions.
func (c *Cluster) Data() []*member.Member { return c.Members[:c.cfg.Data:c.cfg.Data] }

// Lite returns the members that own no partitions.
func (c *Cluster) Lite() []*member.Member { return c.Members[c.cfg.Data:] }

// Stop terminates every member at once. A graceful Shutdown would first
// migrate every partition to the members still up, which costs time and
// proves nothing here.
func (c *Cluster) Stop() {
	logLevel.Set(slog.LevelError + 1)
	defer logLevel.Set(slog.LevelWarn)
	for _, m := range c.Members {
		m.Terminate()
	}
}

// waitStable polls until unstable has nothing to say.
func (c *Cluster) waitStable(ctx context.Context, timeout time.Duration) error {
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
func (c *Cluster) unstable() string {
	first := c.Members[0].Partitions()
	for _, m := range c.Members {
		if n := len(m.Members()); n != len(c.Members) {
			return fmt.Sprintf("%s sees %d members", m.Name(), n)
		}
		t := m.Partitions()
		if t == nil || first == nil || t.Version() != first.Version() {
			return fmt.Sprintf("%s has another table", m.Name())
		}
	}
	if c.cfg.FullReplicas {
		replicas := min(c.Members[0].Config().BackupCount, c.cfg.Data-1) + 1
		for p := range first.Count() {
			if n := len(first.Replicas(p)); n != replicas {
				return fmt.Sprintf("partition %d has %d replicas, want %d", p, n, replicas)
			}
		}
	}
	for _, m := range c.Data() {
		if len(first.Owned(m.ID())) == 0 {
			return fmt.Sprintf("%s owns no partition", m.Name())
		}
	}
	return ""
}
