package member

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/weir-dev/weir/internal/wire"
)

// FaultInjector lets tests cut the network between members of one process:
// before gossip or transport traffic flows from one address to another, the
// member asks Allowed. Addresses are gossip addresses for gossip and
// transport addresses for the transport. Leave Config.Faults nil in
// production; it costs one nil check per frame.
type FaultInjector interface {
	Allowed(from, to string) bool
}

// FrameFaults is a FaultInjector that also drops or delays single transport
// frames: when Config.Faults implements it, the member asks Frame before it
// sends each frame that Allowed lets through. Leave Config.Faults nil in
// production; the seam costs one nil check per frame.
type FrameFaults interface {
	FaultInjector
	Frame(f Frame) Fault
}

// FrameKind is what a transport frame carries.
type FrameKind uint8

const (
	FrameRequest  FrameKind = iota + 1 // a request that expects a response
	FrameResponse                      // the response to a request
	FrameOneWay                        // a message that expects no response
	FrameCancel                        // the cancellation of a request
	FrameStream                        // opens, feeds, credits or closes a stream
)

// Frame describes a transport frame about to be sent.
type Frame struct {
	From, To string // transport addresses of the sender and the receiver
	Kind     FrameKind
	// Route is the route of a request, a one-way message or a stream's
	// opening; for a response, the route of the request it answers; empty
	// for a cancellation and a stream's later frames.
	Route string
}

// Fault is what happens to a frame; the zero Fault sends it as is.
type Fault struct {
	// Drop loses the frame silently, as a network would: a request or its
	// response dropped leaves the caller waiting until its context ends.
	Drop bool
	// Delay holds the frame this long, on Config.Clock, before it is sent;
	// the sending goroutine waits, and frames sent meanwhile by others
	// overtake it. A frame whose sender's context ends first is not sent.
	Delay time.Duration
}

func frameKind(k wire.Kind) FrameKind {
	switch k {
	case wire.KindRequest:
		return FrameRequest
	case wire.KindResponse:
		return FrameResponse
	case wire.KindOneWay:
		return FrameOneWay
	case wire.KindCancel:
		return FrameCancel
	default:
		return FrameStream
	}
}

// inject applies f to a frame with header h and route that c is about to
// send. It reports whether to send it, and if not, what send returns.
func (c *conn) inject(ctx context.Context, f FaultInjector, h *wire.Header, route string) (bool, error) {
	if !f.Allowed(c.t.addr, c.peerAddr) {
		c.close(errPartitioned)
		return false, c.closeErr
	}
	ff, ok := f.(FrameFaults)
	if !ok {
		return true, nil
	}
	fault := ff.Frame(Frame{From: c.t.addr, To: c.peerAddr, Kind: frameKind(h.Kind), Route: route})
	if fault.Drop {
		return false, nil
	}
	if fault.Delay > 0 {
		t := c.t.m.cfg.Clock.NewTimer(fault.Delay)
		defer t.Stop()
		select {
		case <-t.Chan():
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c.done: // send reports the connection's end
		}
	}
	return true, nil
}

// errPartitioned is what a blocked dial or send reports.
var errPartitioned = fmt.Errorf("network partitioned (fault injection)")

// faultyGossip wraps memberlist's network transport, dropping packets and
// refusing connections the injector does not allow. Like a real partition,
// dropped packets are lost silently.
type faultyGossip struct {
	*memberlist.NetTransport
	m       *Member
	self    string
	packets chan *memberlist.Packet
	streams chan net.Conn
	// closing is closed when Shutdown begins: from then on the forwarders
	// drop what arrives instead of waiting for memberlist to take it, since
	// the transport's listeners block on handing it over and the transport's
	// Shutdown waits for them. done is closed once the transport stopped.
	closing, done chan struct{}
	stop          sync.Once
}

func newFaultyGossip(m *Member, nt *memberlist.NetTransport, host string, port int) *faultyGossip {
	g := &faultyGossip{
		NetTransport: nt,
		m:            m,
		self:         net.JoinHostPort(host, fmt.Sprint(port)),
		packets:      make(chan *memberlist.Packet),
		streams:      make(chan net.Conn),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	m.group.Go(g.forwardPackets)
	m.group.Go(g.forwardStreams)
	return g
}

func (g *faultyGossip) allowed(from, to string) bool { return g.m.cfg.Faults.Allowed(from, to) }

func (g *faultyGossip) WriteTo(b []byte, addr string) (time.Time, error) {
	if !g.allowed(g.self, addr) {
		return time.Now(), nil
	}
	return g.NetTransport.WriteTo(b, addr)
}

func (g *faultyGossip) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return g.WriteTo(b, a.Addr)
}

func (g *faultyGossip) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if !g.allowed(g.self, addr) {
		return nil, errPartitioned
	}
	return g.NetTransport.DialTimeout(addr, timeout)
}

func (g *faultyGossip) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return g.DialTimeout(a.Addr, timeout)
}

func (g *faultyGossip) PacketCh() <-chan *memberlist.Packet { return g.packets }
func (g *faultyGossip) StreamCh() <-chan net.Conn           { return g.streams }

func (g *faultyGossip) Shutdown() error {
	var err error
	g.stop.Do(func() {
		close(g.closing)
		err = g.NetTransport.Shutdown()
		close(g.done)
	})
	return err
}

func (g *faultyGossip) forwardPackets(context.Context) {
	for {
		select {
		case p := <-g.NetTransport.PacketCh():
			if !g.allowed(p.From.String(), g.self) {
				continue
			}
			select {
			case g.packets <- p:
			case <-g.closing:
			}
		case <-g.done:
			return
		}
	}
}

// forwardStreams passes incoming gossip connections on; the dialing side
// already refused blocked ones (partitions are symmetric in tests).
func (g *faultyGossip) forwardStreams(context.Context) {
	for {
		select {
		case c := <-g.NetTransport.StreamCh():
			select {
			case g.streams <- c:
			case <-g.closing:
				_ = c.Close()
			}
		case <-g.done:
			return
		}
	}
}
