package member

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/weir-dev/weir/internal/wire"
)

// Limits on gossip TCP streams, checked before memberlist reads them.
// memberlist trusts the node count of a push/pull header (up to a million)
// and allocates a slot for each before any arrives; without a secret anyone
// who reaches the gossip port can send such a header.
const (
	// maxGossipNodes bounds the nodes of one push/pull: live, suspect and
	// recently dead members together.
	maxGossipNodes = 4096
	// maxGossipStream bounds the bytes of one stream message (a push/pull
	// of maxGossipNodes members with full metadata fits).
	maxGossipStream = 4 << 20
	// maxGossipValue bounds one msgpack value in a stream: a node's state
	// with its metadata, a ping, an error.
	maxGossipValue = 4 << 10
	// maxUserState bounds the user state of a push/pull; weir sends none.
	maxUserState = 64 << 10
	// maxGossipStreams bounds the incoming gossip streams being read at once;
	// more are closed on arrival.
	maxGossipStreams = 32
)

// memberlist's stream message types (its net.go; the values are part of its
// protocol).
const (
	mlPing     = 0
	mlAckResp  = 2
	mlPushPull = 6
	mlEncrypt  = 10
	mlErr      = 13
	mlLabel    = 244
)

// gossipGuard is the memberlist Transport weir gives memberlist: the network
// transport, or a faulty one in tests, whose TCP streams, incoming and
// dialed, are checked before memberlist reads them (see checkedConn).
type gossipGuard struct {
	memberlist.NodeAwareTransport
	streams chan net.Conn
	slots   chan struct{}
	refused refusalLog
	// closing is closed when Shutdown begins, done once the transport
	// underneath stopped (as in faultyGossip).
	closing, done chan struct{}
	stop          sync.Once
}

var _ memberlist.NodeAwareTransport = (*gossipGuard)(nil)

// newNetTransport listens for gossip on host:port; port 0 picks a port free
// for both TCP and UDP, retrying as memberlist does.
func newNetTransport(host string, port int, logger *log.Logger) (*memberlist.NetTransport, int, error) {
	var err error
	for range 10 {
		var nt *memberlist.NetTransport
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: logger})
		if err == nil {
			return nt, nt.GetAutoBindPort(), nil
		}
		if port != 0 {
			break
		}
	}
	return nil, 0, err
}

func newGossipGuard(m *Member, inner memberlist.NodeAwareTransport) *gossipGuard {
	g := &gossipGuard{
		NodeAwareTransport: inner,
		streams:            make(chan net.Conn),
		slots:              make(chan struct{}, maxGossipStreams),
		refused:            refusalLog{log: m.log},
		closing:            make(chan struct{}),
		done:               make(chan struct{}),
	}
	if !m.group.Go(func(context.Context) { g.forward(inner.StreamCh()) }) {
		close(g.done)
	}
	return g
}

func (g *gossipGuard) StreamCh() <-chan net.Conn { return g.streams }

func (g *gossipGuard) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := g.NodeAwareTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: c, g: g}, nil
}

func (g *gossipGuard) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := g.NodeAwareTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: c, g: g}, nil
}

func (g *gossipGuard) Shutdown() error {
	var err error
	g.stop.Do(func() {
		close(g.closing)
		err = g.NodeAwareTransport.Shutdown()
		close(g.done)
	})
	return err
}

// forward hands incoming streams to memberlist, each wrapped in a
// checkedConn holding one of maxGossipStreams slots until it is closed.
func (g *gossipGuard) forward(in <-chan net.Conn) {
	for {
		select {
		case c := <-in:
			select {
			case g.slots <- struct{}{}:
			default:
				_ = c.Close()
				g.refused.refuse("gossip: refused streams",
					fmt.Errorf("%w: %d gossip streams being read", errTooManyPending, maxGossipStreams), "remote", c.RemoteAddr().String())
				continue
			}
			cc := &checkedConn{Conn: c, g: g, inbound: true}
			select {
			case g.streams <- cc:
			case <-g.closing:
				_ = cc.Close()
			}
		case <-g.done:
			return
		}
	}
}

// checkedConn is a gossip TCP stream whose first message is read and
// checked before memberlist sees a byte of it: every msgpack value in it
// must declare no more than the bytes that arrived, a push/pull at most
// maxGossipNodes nodes and maxUserState bytes of user state, an encrypted
// message at most maxGossipStream bytes. The bytes read are then handed to
// memberlist unchanged. The check runs in memberlist's own goroutine, on its
// first Read, under the deadline memberlist set.
type checkedConn struct {
	net.Conn
	g       *gossipGuard
	inbound bool

	checked bool
	err     error
	ahead   []byte // bytes read by the check, not yet read by memberlist
	closed  sync.Once
}

func (c *checkedConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		c.ahead, c.err = checkGossipStream(c.Conn)
		if c.err != nil {
			c.ahead = nil // memberlist reads none of a refused stream
		}
		if c.err != nil && !errors.Is(c.err, io.EOF) {
			c.g.refused.refuse("gossip: refused streams", c.err, "remote", c.RemoteAddr().String())
			_ = c.Conn.Close()
		}
	}
	if len(c.ahead) > 0 {
		n := copy(p, c.ahead)
		c.ahead = c.ahead[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

func (c *checkedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		if c.inbound {
			<-c.g.slots
		}
	})
	return err
}

// errGossipStream is wrapped by the reasons a gossip stream is refused.
var errGossipStream = errors.New("refused gossip stream")

// checkGossipStream reads the first message of a gossip stream and checks
// it; it returns the bytes read.
func checkGossipStream(r io.Reader) ([]byte, error) {
	s := streamScan{r: r}
	if err := s.need(1); err != nil {
		if len(s.b) == 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF // opened and closed: memberlist handles that
		}
		return s.b, err
	}
	if s.b[0] == mlLabel {
		if err := s.need(2); err != nil {
			return s.b, err
		}
		if err := s.need(2 + int(s.b[1])); err != nil {
			return s.b, err
		}
		s.off = 2 + int(s.b[1])
		if err := s.need(1); err != nil {
			return s.b, err
		}
	}
	kind := s.b[s.off]
	s.off++
	switch kind {
	case mlPing, mlAckResp, mlErr:
		return s.b, s.value(nil)
	case mlEncrypt:
		// An encrypted message is authenticated by memberlist before it is
		// decoded; only its length needs a bound.
		if err := s.need(4); err != nil {
			return s.b, err
		}
		if n := binary.BigEndian.Uint32(s.b[s.off:]); n > maxGossipStream {
			return s.b, fmt.Errorf("%w: encrypted message of %d bytes, limit %d", errGossipStream, n, maxGossipStream)
		}
		return s.b, nil
	case mlPushPull:
		var h struct {
			Nodes        int
			UserStateLen int
			Join         bool
		}
		if err := s.value(&h); err != nil {
			return s.b, err
		}
		if h.Nodes < 0 || h.Nodes > maxGossipNodes {
			return s.b, fmt.Errorf("%w: push/pull of %d nodes, limit %d", errGossipStream, h.Nodes, maxGossipNodes)
		}
		if h.UserStateLen < 0 || h.UserStateLen > maxUserState {
			return s.b, fmt.Errorf("%w: push/pull user state of %d bytes, limit %d", errGossipStream, h.UserStateLen, maxUserState)
		}
		for range h.Nodes {
			if err := s.value(nil); err != nil {
				return s.b, err
			}
		}
		return s.b, s.need(h.UserStateLen)
	default:
		// Compression is off on weir's members, and user messages unused.
		return s.b, fmt.Errorf("%w: message type %d", errGossipStream, kind)
	}
}

// streamScan reads a stream ahead into b as its values need; off is where
// the next value starts.
type streamScan struct {
	r   io.Reader
	b   []byte
	off int
}

// need makes n bytes past off available.
func (s *streamScan) need(n int) error {
	for len(s.b)-s.off < n {
		if err := s.more(n - (len(s.b) - s.off)); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamScan) more(atLeast int) error {
	if len(s.b)+atLeast > maxGossipStream {
		return fmt.Errorf("%w: message longer than %d bytes", errGossipStream, maxGossipStream)
	}
	chunk := max(atLeast, 4<<10)
	chunk = min(chunk, maxGossipStream-len(s.b))
	if cap(s.b)-len(s.b) < chunk {
		grown := make([]byte, len(s.b), max(2*cap(s.b), len(s.b)+chunk))
		copy(grown, s.b)
		s.b = grown
	}
	k, err := s.r.Read(s.b[len(s.b) : len(s.b)+chunk])
	s.b = s.b[:len(s.b)+k]
	if k > 0 {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// value checks the msgpack value at off, of at most maxGossipValue bytes,
// decodes it into v when v is not nil, and moves past it.
func (s *streamScan) value(v any) error {
	for {
		n, err := wire.Skip(s.b[s.off:])
		if err == nil {
			if v != nil {
				if err := wire.Unmarshal(s.b[s.off:s.off+n], v); err != nil {
					return fmt.Errorf("%w: %v", errGossipStream, err)
				}
			}
			s.off += n
			return nil
		}
		if len(s.b)-s.off >= maxGossipValue {
			return fmt.Errorf("%w: %v", errGossipStream, err)
		}
		if err := s.more(1); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: %v", errGossipStream, wireErr(s.b[s.off:]))
			}
			return err
		}
	}
}

func wireErr(b []byte) error {
	_, err := wire.Skip(b)
	return err
}
