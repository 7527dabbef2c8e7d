package member

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/hashicorp/go-sockaddr"

	"github.com/weir-dev/weir/internal/wire"
)

// transport owns the member's TCP listener and its connections. Each member
// dials its own connection to a peer for the requests it sends; responses
// come back on the same connection. A pair of members therefore shares up to
// two connections, one per direction of requests.
type transport struct {
	m       *Member
	ln      net.Listener
	addr    string // advertised
	authKey []byte
	tls     *tls.Config // nil: plain TCP

	mu      sync.Mutex // guards out, all, closed
	out     map[string]*dialing
	all     map[*conn]struct{}
	closed  bool
	streams streamIDs
	// hints are transport addresses learned from the coordinator for
	// members gossip may not have reported yet. The handshake checks the
	// member ID, so a stale hint fails safely.
	hints sync.Map // member ID -> address

	pending      chan struct{} // one token per incoming handshake in progress
	pendingMu    sync.Mutex    // guards pendingByIP
	pendingByIP  map[string]int
	refusedConns refusalLog
	badFrames    refusalLog
	stats        transportCounters
}

// errTooManyPending refuses a connection past MaxPendingHandshakes.
var errTooManyPending = errors.New("too many handshakes pending")

// dialing is an outbound connection being set up or ready; concurrent
// callers wait for one dial.
type dialing struct {
	ready chan struct{}
	c     *conn
	err   error
}

func newTransport(m *Member) (*transport, error) {
	ln, err := net.Listen("tcp", m.cfg.TransportAddr)
	if err != nil {
		return nil, fmt.Errorf("transport listen on %s: %w", m.cfg.TransportAddr, err)
	}
	addr, err := advertisedTransport(m.cfg, ln.Addr().(*net.TCPAddr))
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	tlsCfg, err := transportTLS(m.cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &transport{
		m:            m,
		ln:           ln,
		addr:         addr,
		authKey:      deriveKey(m.secretKey, "transport"),
		tls:          tlsCfg,
		out:          map[string]*dialing{},
		all:          map[*conn]struct{}{},
		pending:      make(chan struct{}, m.cfg.MaxPendingHandshakes),
		pendingByIP:  map[string]int{},
		refusedConns: refusalLog{log: m.log},
		badFrames:    refusalLog{log: m.log},
	}, nil
}

func (t *transport) start() bool {
	return t.m.group.Go(func(context.Context) { t.acceptLoop() })
}

func (t *transport) acceptLoop() {
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.m.log.Error("transport: accept failed; no longer accepting connections", "err", err)
			}
			return
		}
		if err := t.admit(nc); err != nil {
			_ = nc.Close()
			t.refusedConns.refuse("transport: refused connections", err, "remote", nc.RemoteAddr().String())
			continue
		}
		if !t.m.group.Go(func(context.Context) { t.accept(nc) }) {
			t.admitted(nc)
			_ = nc.Close()
		}
	}
}

// maxPendingPerIP bounds the handshakes pending from one address, so that
// one host cannot take every slot of MaxPendingHandshakes.
const maxPendingPerIP = 16

// admit takes a slot for nc's handshake, or says why there is none.
func (t *transport) admit(nc net.Conn) error {
	ip := remoteIP(nc)
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if t.pendingByIP[ip] >= min(maxPendingPerIP, cap(t.pending)) {
		return fmt.Errorf("%w: %d from %s", errTooManyPending, t.pendingByIP[ip], ip)
	}
	select {
	case t.pending <- struct{}{}:
	default:
		return fmt.Errorf("%w: %d (MaxPendingHandshakes)", errTooManyPending, cap(t.pending))
	}
	t.pendingByIP[ip]++
	return nil
}

// admitted gives nc's slot back once its handshake is over.
func (t *transport) admitted(nc net.Conn) {
	ip := remoteIP(nc)
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if t.pendingByIP[ip]--; t.pendingByIP[ip] <= 0 {
		delete(t.pendingByIP, ip)
	}
	<-t.pending
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return nc.RemoteAddr().String()
}

func (t *transport) accept(raw net.Conn) {
	raw = countedConn{raw, &t.stats}
	nc, err := t.secure(raw, false)
	var r *wire.Reader
	var from peerInfo
	if err == nil {
		r, from, err = t.acceptHandshake(nc)
	}
	t.admitted(raw)
	if err != nil {
		_ = raw.Close()
		nc = raw
		if !t.isClosed() {
			attrs := []any{"remote", nc.RemoteAddr().String()}
			if from.ID != "" {
				attrs = append(attrs, "claimed_peer", from.ID)
			}
			t.refusedConns.refuse("transport: refused connections", err, attrs...)
		}
		return
	}
	c := newConn(t, nc, r, from.ID, false)
	c.peerAddr = from.Addr
	if from.Addr != "" {
		t.hints.Store(from.ID, from.Addr)
	}
	if !t.register(c) {
		return
	}
	c.start()
}

// register records c so shutdown can close it; false if already closed.
func (t *transport) register(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.nc.Close()
		return false
	}
	t.all[c] = struct{}{}
	return true
}

// forget drops a closed connection.
func (t *transport) forget(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.all, c)
	if d, ok := t.out[c.peer]; ok && d.c == c {
		delete(t.out, c.peer)
	}
}

func (t *transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// connTo returns the outbound connection to member id, dialing it if needed.
func (t *transport) connTo(ctx context.Context, id string) (*conn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	d, ok := t.out[id]
	if !ok {
		d = &dialing{ready: make(chan struct{})}
		t.out[id] = d
		t.mu.Unlock()
		c, err := t.dial(id)
		t.mu.Lock()
		d.c, d.err = c, err
		if d.err != nil {
			delete(t.out, id)
		} else if t.closed {
			d.c, d.err = nil, ErrClosed
		} else {
			t.all[d.c] = struct{}{}
		}
		t.mu.Unlock()
		close(d.ready)
		if d.err == nil {
			d.c.start()
		}
		return d.c, d.err
	}
	t.mu.Unlock()
	select {
	case <-d.ready:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *transport) dial(id string) (*conn, error) {
	addr := ""
	if info, ok := t.m.MemberByID(id); ok {
		addr = info.TransportAddr
	} else if hint, ok := t.hints.Load(id); ok {
		addr = hint.(string)
	} else {
		return nil, fmt.Errorf("%w %s", ErrUnknownMember, id)
	}
	if f := t.m.cfg.Faults; f != nil && !f.Allowed(t.addr, addr) {
		return nil, fmt.Errorf("%w %s: dial %s: %v", ErrConnectionLost, id, addr, errPartitioned)
	}
	raw, err := net.DialTimeout("tcp", addr, t.m.cfg.DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w %s: dial %s: %v", ErrConnectionLost, id, addr, err)
	}
	var nc net.Conn = countedConn{raw, &t.stats}
	if nc, err = t.secure(nc, true); err != nil {
		if lost := handshakeBroke(id, err, ""); errors.Is(lost, ErrConnectionLost) {
			return nil, lost // the peer went mid-handshake, as above
		}
		return nil, fmt.Errorf("%w: member %s at %s: %w", ErrRefused, id, addr, err)
	}
	r, err := t.dialHandshake(nc, id)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	c := newConn(t, nc, r, id, true)
	c.peerAddr = addr
	return c, nil
}

// secure runs the TLS handshake on nc when the transport has TLS, within
// DialTimeout; it closes nc if that fails.
func (t *transport) secure(nc net.Conn, dialer bool) (net.Conn, error) {
	if t.tls == nil {
		return nc, nil
	}
	var tc *tls.Conn
	if dialer {
		tc = tls.Client(nc, t.tls)
	} else {
		tc = tls.Server(nc, t.tls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.m.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// advertisedTransport is the transport address other members dial: the
// configured advertise address, or the listener's, with an unspecified host
// (0.0.0.0) replaced by the gossip host or, failing that, a private IP, the
// way memberlist picks its own advertise address.
func advertisedTransport(cfg Config, l *net.TCPAddr) (string, error) {
	if cfg.AdvertiseTransportAddr != "" {
		return cfg.AdvertiseTransportAddr, nil
	}
	port := strconv.Itoa(l.Port)
	if !l.IP.IsUnspecified() {
		return net.JoinHostPort(l.IP.String(), port), nil
	}
	for _, a := range []string{cfg.AdvertiseAddr, cfg.BindAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil {
			if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
				return net.JoinHostPort(host, port), nil
			}
		}
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", fmt.Errorf("transport listens on %s and no private IP was found to advertise; set AdvertiseTransportAddr", l)
	}
	return net.JoinHostPort(ip, port), nil
}

// learn records transport addresses of members, for dialing members that
// gossip has not reported yet.
func (t *transport) learn(addrs map[string]string) {
	for id, addr := range addrs {
		if id != "" && addr != "" {
			t.hints.Store(id, addr)
		}
	}
}

// addrsOf returns the known transport addresses of the given members.
func (t *transport) addrsOf(ids []string) map[string]string {
	addrs := make(map[string]string, len(ids))
	for _, id := range ids {
		if info, ok := t.m.MemberByID(id); ok {
			addrs[id] = info.TransportAddr
		} else if hint, ok := t.hints.Load(id); ok {
			addrs[id] = hint.(string)
		}
	}
	return addrs
}

// closePeer closes every connection with member id, failing what is pending
// on them; used when the member leaves the cluster.
func (t *transport) closePeer(id string, reason error) {
	t.mu.Lock()
	var cs []*conn
	for c := range t.all {
		if c.peer == id {
			cs = append(cs, c)
		}
	}
	t.mu.Unlock()
	t.hints.Delete(id)
	for _, c := range cs {
		c.close(reason)
	}
}

// close stops accepting and closes every connection.
func (t *transport) close() {
	t.mu.Lock()
	t.closed = true
	cs := make([]*conn, 0, len(t.all))
	for c := range t.all {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	_ = t.ln.Close()
	for _, c := range cs {
		c.close(ErrClosed)
	}
}

// Stream ids are allocated per transport so they are unique on every
// connection this member opens.
type streamIDs struct {
	mu   sync.Mutex
	next uint64
}

func (s *streamIDs) nextID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return s.next
}

// openedByPeer handles a stream opened by the peer on c.
func (t *transport) openedByPeer(c *conn, h wire.Header, hello []byte) {
	m := t.m
	handler, ok := m.routes.streamHandler(h.Route)
	s := newStream(c, h.ID, h.Route, hello, m.cfg.StreamWindow)
	if !ok {
		s.closeWith(fmt.Errorf("%w %q on member %s", ErrNoHandler, h.Route, m.id))
		return
	}
	c.streams.Store(h.ID, s)
	if !m.group.Go(func(ctx context.Context) {
		defer s.Close()
		handler(ctx, s)
	}) {
		s.closeWith(ErrClosed)
	}
}
