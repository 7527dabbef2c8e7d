package member

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/jonboulle/clockwork"

	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/partition"
)

// Member is one running cluster member. Create it with Start; stop it with
// Shutdown. All methods are safe for concurrent use.
type Member struct {
	cfg     Config
	id      string
	log     *slog.Logger
	started time.Time

	group     *run.Group
	list      *memberlist.Memberlist
	transport *transport
	guard     *gossipGuard
	secretKey []byte // stretched from cfg.SecretKey; nil without one
	routes    *registry
	meta      atomic.Pointer[[]byte]

	nodesMu        sync.Mutex // guards nodes
	nodes          map[string]Info
	view           atomic.Pointer[view]
	viewDirty      chan struct{}
	membersChanged run.Signal
	refusedPeers   sync.Map
	joinRefusal    atomic.Pointer[error]

	migrations atomic.Int64 // partitions sent as a migration's source
	tables     tableState
	// realClock: cfg.Clock is the real clock, so a long wait in real time
	// is a stall of the process (see Member.stalled).
	realClock bool
	coord     coordinator
	frozen    frozenParts

	host     *Host
	services attachedServices

	closed       atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error
	shutdownDone chan struct{}
	ready        chan struct{} // closed when Start succeeds
}

// Start starts a member: it validates cfg, listens for the transport and for
// gossip, attaches services in the order given, joins the members in
// cfg.Join (or starts a new cluster when there are none) and waits until the
// member knows a partition table. If anything fails, everything started so
// far is stopped and the error says what failed.
//
// A member started with no services takes part in membership and partition
// tables only: weir.Start starts one with distributed maps and jobs. The
// services' names travel in the member's gossip metadata, and data members
// serving different services refuse each other at join (see Service).
func Start(ctx context.Context, cfg Config, services ...Service) (*Member, error) {
	cfg = cfg.withDefaults()
	id := newID()
	if cfg.Name == "" {
		cfg.Name = "weir-" + id[:8]
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid member config: %w", err)
	}
	m := &Member{
		cfg:          cfg,
		id:           id,
		log:          cfg.Logger.With("member", cfg.Name),
		started:      time.Now(),
		routes:       newRegistry(),
		nodes:        map[string]Info{},
		viewDirty:    make(chan struct{}, 1),
		shutdownDone: make(chan struct{}),
		ready:        make(chan struct{}),
	}
	m.host = &Host{m}
	m.realClock = reflect.TypeOf(cfg.Clock) == reflect.TypeOf(clockwork.NewRealClock())
	if err := m.services.init(services); err != nil {
		return nil, fmt.Errorf("invalid member services: %w", err)
	}
	m.view.Store(newView(nil))
	m.group = run.NewGroup(context.Background())
	m.tables.init(m)
	m.checkQuorum()
	m.coord.init(m)
	m.frozen.init()

	ok := false
	defer func() {
		if !ok {
			m.abortStart()
		}
	}()
	var err error
	if m.secretKey, err = stretchSecret(cfg.SecretKey, cfg.ClusterName); err != nil {
		return nil, err
	}
	if m.transport, err = newTransport(m); err != nil {
		return nil, err
	}
	if err := m.setMeta(false); err != nil {
		return nil, err
	}
	m.registerRoutes()
	if err := m.services.attach(m.host); err != nil {
		return nil, err
	}
	if !m.transport.start() {
		return nil, ErrClosed
	}
	mc := m.memberlistConfig()
	nt, port, err := newNetTransport(mc.BindAddr, mc.BindPort, mc.Logger)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	var inner memberlist.NodeAwareTransport = nt
	if cfg.Faults != nil {
		inner = newFaultyGossip(m, nt, mc.BindAddr, port)
	}
	m.guard = newGossipGuard(m, inner)
	mc.Transport, mc.BindPort = m.guard, port
	if cfg.AdvertiseAddr == "" {
		mc.AdvertisePort = port
	}
	if m.list, err = memberlist.Create(mc); err != nil {
		_ = m.guard.Shutdown() // memberlist did not take it
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	m.warnIfExposed()
	m.group.Go(m.watchMembers)
	if m.realClock {
		m.group.Go(m.watchStalls)
	}
	if len(cfg.Join) > 0 {
		if err := m.join(); err != nil {
			return nil, err
		}
	}
	m.group.Go(m.rejoin)
	m.group.Go(m.coord.run)
	m.group.Go(m.frozen.watchdog(m))
	if err := m.awaitFirstTable(ctx); err != nil {
		return nil, err
	}
	ok = true
	close(m.ready)
	m.log.Info("member started", "id", m.id, "gossip", m.Addr(), "transport", m.transport.addr, "cluster", cfg.ClusterName, "lite", cfg.Lite)
	return m, nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *Member) memberlistConfig() *memberlist.Config {
	cfg := m.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	host, port, _ := net.SplitHostPort(cfg.BindAddr)
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertisePort = mc.BindPort
	if cfg.AdvertiseAddr != "" {
		ahost, aport, _ := net.SplitHostPort(cfg.AdvertiseAddr)
		mc.AdvertiseAddr = ahost
		mc.AdvertisePort, _ = strconv.Atoi(aport)
	}
	g := cfg.Gossip
	mc.ProbeInterval = g.ProbeInterval
	mc.ProbeTimeout = g.ProbeTimeout
	mc.GossipInterval = g.GossipInterval
	mc.SuspicionMult = g.SuspicionMult
	mc.PushPullInterval = g.PushPullInterval
	mc.TCPTimeout = g.TCPTimeout
	mc.DeadNodeReclaimTime = g.DeadNodeReclaimTime
	mc.GossipToTheDeadTime = 10 * g.ProbeInterval
	mc.IndirectChecks = 2
	// Weir's members send no compressed streams, so the gossip guard can
	// refuse them: a compressed push/pull cannot be checked before
	// memberlist inflates it.
	mc.EnableCompression = false
	mc.Delegate = gossip{m}
	mc.Events = gossip{m}
	mc.Alive = gossip{m}
	mc.Merge = gossip{m}
	ip := net.ParseIP(host)
	mc.Logger = log.New(memberlistLog{log: m.log, loopback: ip != nil && ip.IsLoopback(), limit: &refusalLog{log: m.log}}, "", 0)
	if len(cfg.SecretKey) > 0 {
		mc.SecretKey = deriveKey(m.secretKey, "gossip")
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
		mc.Label = "weir/" + cfg.ClusterName
	}
	return mc
}

func (m *Member) setMeta(leaving bool) error {
	b, err := nodeMeta{
		ID:         m.id,
		Cluster:    m.cfg.ClusterName,
		Transport:  m.transport.addr,
		Started:    m.started.UnixNano(),
		Version:    Version,
		Protocol:   protocol,
		Partitions: m.cfg.PartitionCount,
		Lite:       m.cfg.Lite,
		Leaving:    leaving,
		Services:   m.services.shared,
	}.encode()
	if err != nil {
		return err
	}
	m.meta.Store(&b)
	return nil
}

func (m *Member) join() error {
	n, err := m.list.Join(m.cfg.Join)
	if n > 0 {
		return nil
	}
	if reason := m.joinRefusal.Load(); reason != nil {
		return fmt.Errorf("%w %v: refused: %w", ErrJoin, m.cfg.Join, *reason)
	}
	return fmt.Errorf("%w %v: %s", ErrJoin, m.cfg.Join, explainJoinError(err, len(m.cfg.SecretKey) > 0))
}

// explainJoinError turns memberlist's join errors, one per address, into
// one line that says what probably went wrong.
func explainJoinError(err error, haveSecret bool) string {
	if err == nil {
		return "no member answered"
	}
	errs := []error{err}
	if w, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = w.WrappedErrors()
	}
	var parts []string
	for _, e := range errs {
		msg := e.Error()
		// A refusing member closes the connection: the joiner reads an end
		// of file, or a reset when the close found its data unread.
		closed := strings.HasSuffix(msg, "EOF") || strings.Contains(msg, "connection reset by peer")
		switch {
		case strings.Contains(msg, "no installed keys could decrypt"):
			msg += " (secret key mismatch)"
		case closed && haveSecret:
			msg += " (the member closed the connection: it may use no secret key, or another cluster name)"
		case closed:
			msg += " (the member closed the connection: it may require a secret key, or use another cluster name)"
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// awaitFirstTable waits until the member knows a partition table, so maps
// can route as soon as Start returns. A lite member in a cluster without data
// members, or a cluster below its quorum, has none; Start does not wait
// forever for it.
func (m *Member) awaitFirstTable(ctx context.Context) error {
	if !m.HasQuorum() {
		m.log.Info("started below the quorum; the partition table comes once enough members join", "min_cluster_size", m.cfg.MinClusterSize)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.reachCoordinator(ctx); err != nil {
		return err
	}
	_, err := m.WaitPartitions(ctx, func(t *partition.Table) bool { return t != nil })
	if err != nil && ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		m.log.Warn("started without a partition table; maps will wait for one", "members", len(m.Members()))
		return nil
	}
	return err
}

// reachCoordinator opens the transport connection to the coordinator,
// which sends this member its partition tables. Gossip can admit a member
// whose transport every other member refuses (a certificate of another CA,
// another secret key); such a member would wait for a table that never
// comes, so Start fails with the refusal instead. Errors a retry may fix
// are left to the wait for the table.
func (m *Member) reachCoordinator(ctx context.Context) error {
	c, ok := m.Coordinator()
	if !ok || c.ID == m.id {
		return nil
	}
	if _, err := m.transport.connTo(ctx, c.ID); err != nil && mismatched(err) {
		return fmt.Errorf("%w: the coordinator's transport refused this member: %w", ErrJoin, err)
	}
	return nil
}

func (m *Member) abortStart() {
	m.closed.Store(true)
	if m.list != nil {
		_ = m.list.Shutdown()
	}
	if m.transport != nil {
		m.transport.close()
	}
	m.group.Stop()
	_ = m.services.shutdown(context.Background())
	close(m.shutdownDone)
}

// ID is the member's unique ID; a restarted member gets a new one.
func (m *Member) ID() string { return m.id }

// Name is the member's configured name.
func (m *Member) Name() string { return m.cfg.Name }

// Config returns the member's configuration with defaults filled in.
func (m *Member) Config() Config { return m.cfg }

// Addr is the member's gossip address, the one to pass in another member's
// Config.Join.
func (m *Member) Addr() string {
	n := m.list.LocalNode()
	return n.Address()
}

// TransportAddr is the member's advertised transport address.
func (m *Member) TransportAddr() string { return m.transport.addr }

// Members returns the live members, this one included, oldest first.
func (m *Member) Members() []Info { return slices.Clone(m.view.Load().members) }

// MemberByID returns the live member with the given ID.
func (m *Member) MemberByID(id string) (Info, bool) {
	i, ok := m.view.Load().byID[id]
	return i, ok
}

// Coordinator returns the oldest live member, which publishes partition
// tables; ok is false before this member sees itself in the view.
func (m *Member) Coordinator() (Info, bool) {
	v := m.view.Load()
	if len(v.members) == 0 {
		return Info{}, false
	}
	return v.members[0], true
}

// IsCoordinator reports whether this member is the coordinator.
func (m *Member) IsCoordinator() bool {
	c, ok := m.Coordinator()
	return ok && c.ID == m.id
}

// HasQuorum reports whether at least MinClusterSize data members are live.
func (m *Member) HasQuorum() bool {
	if m.cfg.MinClusterSize <= 1 {
		return true
	}
	return m.view.Load().data >= m.cfg.MinClusterSize
}

// WaitMembers waits until ready returns true for the live members, and
// returns them.
func (m *Member) WaitMembers(ctx context.Context, ready func([]Info) bool) ([]Info, error) {
	for {
		changed := m.membersChanged.Wait()
		ms := m.Members()
		if ready(ms) {
			return ms, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ms, ctx.Err()
		case <-m.shutdownDone:
			return ms, ErrClosed
		}
	}
}

// Done is closed when the member has shut down.
func (m *Member) Done() <-chan struct{} { return m.shutdownDone }

// IsClosed reports whether Shutdown or Terminate has been called.
func (m *Member) IsClosed() bool { return m.closed.Load() }
