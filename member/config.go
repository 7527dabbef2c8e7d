package member

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/weir-dev/weir/partition"
)

// Config describes one member. Start it from DefaultConfig or LocalConfig and
// change what you need; Start fills zero values with defaults and reports
// every invalid setting at once.
type Config struct {
	// Name is this member's name in the cluster, unique among live members.
	// A member restarted with the same name replaces its dead predecessor.
	// Default: "weir-" followed by the first characters of the member ID.
	Name string
	// ClusterName must be the same on every member; a member of another
	// cluster is refused at join and at the transport handshake.
	ClusterName string

	// BindAddr is the gossip address, "host:port"; port 0 picks a free one.
	BindAddr string
	// AdvertiseAddr is the gossip address other members use to reach this
	// one, when it differs from BindAddr (NAT, containers). Optional.
	AdvertiseAddr string
	// TransportAddr is the member-to-member TCP address, "host:port"; port 0
	// picks a free one. Default: BindAddr's host with port 0.
	TransportAddr string
	// AdvertiseTransportAddr is the transport address advertised to other
	// members, when it differs from TransportAddr. Optional.
	AdvertiseTransportAddr string
	// Join lists gossip addresses of existing members. Empty: this member
	// starts a new cluster. Start succeeds when any of them answers.
	Join []string
	// RejoinInterval is how often the member retries the Join addresses that
	// are not live members, so two sides of a network partition that outlived
	// the failure detector's memory find each other again. 0 disables it.
	RejoinInterval time.Duration

	// PartitionCount is the number of map partitions; it must be the same on
	// every member. Default partition.DefaultCount (271).
	PartitionCount int
	// BackupCount is the number of synchronous backups of each partition,
	// at most 6. Default (0): 1. Set it to NoBackups for none: each
	// partition then lives on its owner alone, and a crash loses it. A
	// started member's Config reports the count it runs with, 0 for none.
	BackupCount int
	// MinClusterSize is the quorum: with fewer live data members than this,
	// the member refuses writes and runs no jobs, and the coordinator
	// publishes no new partition table. 0 or 1: no quorum is required.
	MinClusterSize int
	// Lite members own no partitions; they use maps and submit jobs.
	Lite bool

	// SecretKey, when set, encrypts gossip (memberlist's AES-GCM, with a key
	// derived from this secret) and authenticates every transport connection
	// with an HMAC challenge; members with another secret are refused.
	SecretKey []byte

	// TLSCertFile, TLSKeyFile and TLSCAFile (PEM files, all three or
	// none) encrypt the transport with TLS 1.3 and authenticate both sides
	// of every connection by certificate: a member accepts a peer only if
	// TLSCAFile's CA signed its certificate. Map values and job data cross
	// the transport in plain text without it. Gossip is not covered (it
	// carries membership, not data): SecretKey encrypts it.
	TLSCertFile, TLSKeyFile, TLSCAFile string

	// RESPAddr, when set, is where the member serves Redis clients (RESP2
	// and RESP3), "host:port"; port 0 picks a free one. weir.Start attaches
	// the endpoint (package resp); member.Start alone ignores it. Default:
	// none.
	RESPAddr string

	// MaxFrameSize bounds one transport frame; a peer sending a larger frame
	// is disconnected before the body is read. Default 64 MiB.
	MaxFrameSize int
	// StreamWindow is the flow-control window of transport streams in bytes:
	// how much a sender may have in flight before the receiver consumes it.
	// Default 4 MiB.
	StreamWindow int
	// DialTimeout bounds connecting to a member and its handshake. Default 5s.
	DialTimeout time.Duration
	// ReadTimeout closes a transport connection whose peer started a frame
	// and sent none of its bytes for this long: a stalled frame holds no
	// memory for longer. Default 30s.
	ReadTimeout time.Duration
	// IdleTimeout closes a transport connection on which nothing was read
	// or written for this long and nothing is in flight (no call, handler
	// or stream); the next call dials again. Default 5m.
	IdleTimeout time.Duration
	// MaxPendingHandshakes bounds the incoming transport connections whose
	// handshake is not done; more are closed at once. Each handshake also
	// ends after DialTimeout. Default 128.
	MaxPendingHandshakes int

	// HTTPAddr, when set, is the "host:port" of the member's HTTP endpoint
	// (metrics, health checks, the JSON API and the web console), which
	// weir.Start attaches (package ops). Empty: none. Port 0 picks a free one.
	HTTPAddr string
	// HTTPToken authorizes the HTTP endpoint's calls that change state (job
	// control, map writes), given as "Authorization: Bearer <token>"; with
	// none, they are refused. On an address other than loopback, reads
	// need it too.
	HTTPToken string

	// Gossip tunes failure detection. See GossipConfig.
	Gossip GossipConfig

	// MigrationTimeout bounds one partition migration step. Default 30s.
	MigrationTimeout time.Duration

	// Logger receives the member's logs. Default slog.Default().
	Logger *slog.Logger

	// Faults, for tests only, cuts the network between members of one
	// process, and drops or delays single frames when it is also a
	// FrameFaults. See FaultInjector.
	Faults FaultInjector

	// Clock, for tests only, is the time the member's own timing decisions
	// are made by: when the coordinator steps, when it acts on a departure
	// (Gossip.ProbeInterval after it), when the requests it sends time out
	// (DialTimeout, MigrationTimeout), when a partition has been frozen too
	// long, and how long a FrameFaults delay lasts. Gossip's failure
	// detection keeps memberlist's own, real time. A test gives a
	// clockwork.FakeClock and advances it instead of waiting; start it at
	// time.Now(), since a request's deadline reaches its receiver as the
	// real time left until it. Default: the real clock.
	Clock clockwork.Clock
}

// NoBackups, as Config.BackupCount, keeps no backups. The zero value of
// BackupCount takes the default of one backup, so that a Config built from
// scratch is as safe as DefaultConfig; a cluster that can afford to lose
// data on a crash asks for none by name.
const NoBackups = -1

// GossipConfig tunes memberlist's failure detector. Zero values take the
// preset's defaults.
type GossipConfig struct {
	ProbeInterval    time.Duration // how often a random member is probed
	ProbeTimeout     time.Duration // how long to wait for a probe's ack
	GossipInterval   time.Duration // how often state is gossiped
	SuspicionMult    int           // suspicion timeout multiplier
	PushPullInterval time.Duration // full state sync interval
	TCPTimeout       time.Duration // gossip TCP operations
	// DeadNodeReclaimTime is how long after a member is declared dead its
	// name may be taken by a member at another address (a restart).
	DeadNodeReclaimTime time.Duration
}

// DefaultConfig returns production defaults: gossip on port 5701 of all
// interfaces, LAN failure detection, 271 partitions, one backup.
func DefaultConfig() Config {
	return Config{
		ClusterName:          "weir",
		BindAddr:             "0.0.0.0:5701",
		PartitionCount:       partition.DefaultCount,
		BackupCount:          1,
		RejoinInterval:       30 * time.Second,
		MaxFrameSize:         64 << 20,
		StreamWindow:         4 << 20,
		DialTimeout:          5 * time.Second,
		ReadTimeout:          30 * time.Second,
		IdleTimeout:          5 * time.Minute,
		MaxPendingHandshakes: 128,
		Gossip: GossipConfig{
			ProbeInterval:       time.Second,
			ProbeTimeout:        500 * time.Millisecond,
			GossipInterval:      200 * time.Millisecond,
			SuspicionMult:       4,
			PushPullInterval:    30 * time.Second,
			TCPTimeout:          10 * time.Second,
			DeadNodeReclaimTime: 10 * time.Second,
		},
		MigrationTimeout: 30 * time.Second,
	}
}

// LocalConfig returns a configuration for members on one machine: loopback
// addresses with ephemeral ports and fast failure detection (a crashed
// member is declared dead within about two seconds). For tests, demos and
// in-process clusters.
func LocalConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.TransportAddr = "127.0.0.1:0"
	c.RejoinInterval = 2 * time.Second
	c.DialTimeout = 2 * time.Second
	c.Gossip = GossipConfig{
		ProbeInterval:       200 * time.Millisecond,
		ProbeTimeout:        100 * time.Millisecond,
		GossipInterval:      50 * time.Millisecond,
		SuspicionMult:       3,
		PushPullInterval:    5 * time.Second,
		TCPTimeout:          time.Second,
		DeadNodeReclaimTime: 200 * time.Millisecond,
	}
	c.MigrationTimeout = 10 * time.Second
	return c
}

// withDefaults fills zero values from DefaultConfig, and turns NoBackups
// into the count it means, 0.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ClusterName == "" {
		c.ClusterName = d.ClusterName
	}
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.TransportAddr == "" {
		if host, _, err := net.SplitHostPort(c.BindAddr); err == nil {
			c.TransportAddr = net.JoinHostPort(host, "0")
		}
	}
	if c.PartitionCount == 0 {
		c.PartitionCount = d.PartitionCount
	}
	switch c.BackupCount {
	case 0:
		c.BackupCount = d.BackupCount
	case NoBackups:
		c.BackupCount = 0
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.StreamWindow == 0 {
		c.StreamWindow = d.StreamWindow
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxPendingHandshakes == 0 {
		c.MaxPendingHandshakes = d.MaxPendingHandshakes
	}
	if c.MigrationTimeout == 0 {
		c.MigrationTimeout = d.MigrationTimeout
	}
	g, dg := &c.Gossip, d.Gossip
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&g.ProbeInterval, dg.ProbeInterval)
	setDur(&g.ProbeTimeout, dg.ProbeTimeout)
	setDur(&g.GossipInterval, dg.GossipInterval)
	setDur(&g.PushPullInterval, dg.PushPullInterval)
	setDur(&g.TCPTimeout, dg.TCPTimeout)
	setDur(&g.DeadNodeReclaimTime, dg.DeadNodeReclaimTime)
	if g.SuspicionMult == 0 {
		g.SuspicionMult = dg.SuspicionMult
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	return c
}

// Validate reports every problem with c at once. Start calls it after
// filling defaults, so zero values are fine there.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// Meta travels in memberlist's node metadata, limited to 512 bytes.
	if len(c.Name) > 128 {
		add("Name is %d bytes, at most 128 allowed", len(c.Name))
	}
	if c.ClusterName == "" {
		add("ClusterName is empty")
	} else if len(c.ClusterName) > 64 {
		add("ClusterName is %d bytes, at most 64 allowed", len(c.ClusterName))
	}
	checkAddr := func(field, addr string, optional bool) {
		if addr == "" {
			if !optional {
				add("%s is empty", field)
			}
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			add("%s %q: %v", field, addr, err)
			return
		}
		if net.ParseIP(host) == nil {
			add("%s %q: host must be an IP address", field, addr)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add("%s %q: bad port", field, addr)
		}
	}
	checkAddr("BindAddr", c.BindAddr, false)
	checkAddr("AdvertiseAddr", c.AdvertiseAddr, true)
	checkAddr("TransportAddr", c.TransportAddr, false)
	checkAddr("AdvertiseTransportAddr", c.AdvertiseTransportAddr, true)
	checkAddr("HTTPAddr", c.HTTPAddr, true)
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			add("Join address %q: %v", j, err)
		}
	}
	if c.PartitionCount < 1 || c.PartitionCount > 1<<16 {
		add("PartitionCount %d: must be between 1 and 65536", c.PartitionCount)
	}
	if c.BackupCount < NoBackups || c.BackupCount > 6 {
		add("BackupCount %d: must be between 0 and 6, or NoBackups (-1)", c.BackupCount)
	}
	if c.MinClusterSize < 0 {
		add("MinClusterSize %d: must not be negative", c.MinClusterSize)
	}
	if c.MaxFrameSize < 1<<16 {
		add("MaxFrameSize %d: must be at least 65536", c.MaxFrameSize)
	}
	if c.StreamWindow < 1<<10 {
		add("StreamWindow %d: must be at least 1024", c.StreamWindow)
	}
	if set := btoi(c.TLSCertFile != "") + btoi(c.TLSKeyFile != "") + btoi(c.TLSCAFile != ""); set != 0 && set != 3 {
		add("TLSCertFile, TLSKeyFile and TLSCAFile: set all three or none")
	}
	if c.ReadTimeout < 0 || c.IdleTimeout < 0 {
		add("ReadTimeout %v and IdleTimeout %v: must not be negative", c.ReadTimeout, c.IdleTimeout)
	}
	if c.MaxPendingHandshakes < 0 {
		add("MaxPendingHandshakes %d: must not be negative", c.MaxPendingHandshakes)
	}
	if c.RejoinInterval < 0 {
		add("RejoinInterval %v: must not be negative", c.RejoinInterval)
	}
	if c.Gossip.ProbeTimeout >= c.Gossip.ProbeInterval && c.Gossip.ProbeInterval > 0 {
		add("Gossip.ProbeTimeout %v must be shorter than Gossip.ProbeInterval %v", c.Gossip.ProbeTimeout, c.Gossip.ProbeInterval)
	}
	return errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
