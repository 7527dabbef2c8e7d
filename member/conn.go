package member

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/weir-dev/weir/internal/wire"
)

// maxPendingWrite bounds the bytes queued on one connection before senders
// wait: enough to batch many frames per write, small enough to apply
// backpressure to a sender that outruns the network.
const maxPendingWrite = 4 << 20

// maxConcurrentHandlers bounds the handler goroutines serving one
// connection; beyond it the reader stops reading, pushing back on the peer
// through TCP.
const maxConcurrentHandlers = 4096

type response struct {
	payload []byte
	err     error
}

// conn is one authenticated TCP connection to a peer member. Frames written
// by any goroutine are appended to one buffer and written by a flusher
// goroutine in as few system calls as the load allows; one reader goroutine
// dispatches what arrives.
type conn struct {
	t        *transport
	nc       net.Conn
	peer     string // member ID
	peerAddr string // its transport address, for fault injection
	outbound bool
	reader   *wire.Reader

	wmu     sync.Mutex // guards wbuf, wspare, wspace, closed, closeErr
	wbuf    []byte
	wspare  []byte
	wframes int64 // frames in wbuf, counted once flushed
	// wspace is closed when the flusher takes the buffer; senders waiting
	// for room wait on it. Nil when nobody waits.
	wspace   chan struct{}
	closed   bool
	closeErr error
	wsignal  chan struct{} // capacity 1: the buffer went from empty to non-empty
	done     chan struct{} // closed when the connection is closed

	nextID  atomic.Uint64
	calls   *xsync.MapOf[uint64, chan response]
	serving *xsync.MapOf[uint64, context.CancelFunc]
	streams *xsync.MapOf[uint64, *Stream]
	sem     chan struct{}
	// lastWrite is when the flusher last wrote, in unix nanoseconds: a
	// connection that only sends is not idle.
	lastWrite atomic.Int64
}

func newConn(t *transport, nc net.Conn, r *wire.Reader, peer string, outbound bool) *conn {
	r.SetLimit(t.m.cfg.MaxFrameSize)
	c := &conn{
		t:        t,
		nc:       nc,
		peer:     peer,
		outbound: outbound,
		reader:   r,
		wsignal:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		calls:    xsync.NewMapOf[uint64, chan response](),
		serving:  xsync.NewMapOf[uint64, context.CancelFunc](),
		streams:  xsync.NewMapOf[uint64, *Stream](),
		sem:      make(chan struct{}, maxConcurrentHandlers),
	}
	r.Pooled = c.pooledFrame
	r.Rebuffer(deadlineReader{c}, wire.DefaultBufferSize)
	c.lastWrite.Store(time.Now().UnixNano())
	return c
}

// deadlineReader reads from the connection with a read deadline: ReadTimeout
// inside a frame, IdleTimeout between frames.
type deadlineReader struct{ c *conn }

func (d deadlineReader) Read(p []byte) (int, error) {
	cfg := &d.c.t.m.cfg
	wait := cfg.IdleTimeout
	if d.c.reader.InFrame() {
		wait = cfg.ReadTimeout
	}
	_ = d.c.nc.SetReadDeadline(time.Now().Add(wait))
	return d.c.nc.Read(p)
}

// busy reports whether anything is in flight on c or it wrote lately, so
// that an expired idle deadline does not close it.
func (c *conn) busy() bool {
	recent := time.Since(time.Unix(0, c.lastWrite.Load())) < c.t.m.cfg.IdleTimeout
	return recent || c.calls.Size() > 0 || len(c.sem) > 0 || c.serving.Size() > 0 || c.streams.Size() > 0
}

// pooledFrame says whether a frame's payload is read into a pooled buffer:
// the data of a stream whose receiver gives its messages back.
func (c *conn) pooledFrame(h *wire.Header) bool {
	if h.Kind != wire.KindStreamData {
		return false
	}
	s, ok := c.streams.Load(h.ID)
	return ok && s.recycled.Load()
}

// start runs the reader and flusher goroutines.
func (c *conn) start() {
	g := c.t.m.group
	if !g.Go(func(context.Context) { c.flushLoop() }) || !g.Go(func(context.Context) { c.readLoop() }) {
		c.close(ErrClosed)
	}
}

// send queues one frame, waiting while the queue is over its limit.
func (c *conn) send(ctx context.Context, h *wire.Header, payload []byte) error {
	return c.sendFor(ctx, h, payload, h.Route)
}

// sendFor is send of a frame whose route, for fault injection, is route: a
// response's header carries none.
func (c *conn) sendFor(ctx context.Context, h *wire.Header, payload []byte, route string) error {
	if n := wire.FrameSize(h, len(payload)); n-4 > c.t.m.cfg.MaxFrameSize {
		return fmt.Errorf("message of %d bytes exceeds MaxFrameSize %d", n, c.t.m.cfg.MaxFrameSize)
	}
	if f := c.t.m.cfg.Faults; f != nil {
		if ok, err := c.inject(ctx, f, h, route); !ok {
			return err
		}
	}
	c.wmu.Lock()
	for len(c.wbuf) >= maxPendingWrite && !c.closed {
		if c.wspace == nil {
			c.wspace = make(chan struct{})
		}
		space := c.wspace
		c.wmu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
		}
		c.wmu.Lock()
	}
	if c.closed {
		err := c.closeErr
		c.wmu.Unlock()
		return err
	}
	wasEmpty := len(c.wbuf) == 0
	var err error
	c.wbuf, err = wire.AppendFrame(c.wbuf, h, payload)
	if err == nil {
		c.wframes++
	}
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	if wasEmpty {
		select {
		case c.wsignal <- struct{}{}:
		default:
		}
	}
	return nil
}

func (c *conn) flushLoop() {
	for {
		select {
		case <-c.wsignal:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		buf, frames := c.wbuf, c.wframes
		c.wbuf, c.wframes = c.wspare[:0], 0
		c.wspare = nil
		if c.wspace != nil {
			close(c.wspace)
			c.wspace = nil
		}
		c.wmu.Unlock()
		if len(buf) == 0 {
			continue
		}
		if _, err := c.nc.Write(buf); err != nil {
			c.close(fmt.Errorf("write to member %s: %w", c.peer, err))
			return
		}
		c.lastWrite.Store(time.Now().UnixNano())
		c.t.stats.framesSent.Add(frames)
		if cap(buf) <= 2*maxPendingWrite {
			c.wmu.Lock()
			c.wspare = buf[:0]
			c.wmu.Unlock()
		}
	}
}

func (c *conn) readLoop() {
	for {
		h, p, err := c.reader.ReadFrame()
		if err != nil {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			switch {
			case timeout && !c.reader.InFrame() && c.busy():
				continue // idle reading, but waiting for something: read on
			case timeout && !c.reader.InFrame():
				c.t.m.log.Debug("transport: closing idle connection", "peer", c.peer)
			case timeout:
				err = fmt.Errorf("a frame stalled: no byte for %v (ReadTimeout)", c.t.m.cfg.ReadTimeout)
				fallthrough
			case errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, wire.ErrMalformed):
				c.t.badFrames.refuse("transport: disconnected members after bad frames", err, "peer", c.peer, "remote", c.nc.RemoteAddr().String())
			}
			c.close(fmt.Errorf("%w %s: %v", ErrConnectionLost, c.peer, err))
			return
		}
		c.t.stats.framesReceived.Add(1)
		if !c.dispatch(h, p) {
			return
		}
	}
}

// dispatch handles one frame; false means the connection was closed.
func (c *conn) dispatch(h wire.Header, p []byte) bool {
	switch h.Kind {
	case wire.KindResponse:
		if ch, ok := c.calls.LoadAndDelete(h.ID); ok {
			if h.Code != "" || h.Message != "" {
				ch <- response{err: &RemoteError{Member: c.peer, Code: h.Code, Message: h.Message}}
			} else {
				ch <- response{payload: p}
			}
		}
	case wire.KindRequest, wire.KindOneWay:
		c.serve(h, p)
	case wire.KindCancel:
		if cancel, ok := c.serving.Load(h.ID); ok {
			cancel()
		}
	case wire.KindStreamOpen:
		c.t.openedByPeer(c, h, p)
	case wire.KindStreamData, wire.KindStreamCredit, wire.KindStreamClose:
		if s, ok := c.streams.Load(h.ID); ok {
			s.receive(h, p)
		}
	default:
		c.t.m.log.Warn("transport: disconnecting member after an unexpected frame", "peer", c.peer, "kind", h.Kind.String())
		c.close(fmt.Errorf("%w %s: unexpected %s frame", ErrConnectionLost, c.peer, h.Kind))
		return false
	}
	return true
}

func (c *conn) serve(h wire.Header, p []byte) {
	m := c.t.m
	e, ok := m.routes.handler(h.Route)
	if !ok {
		if h.Kind == wire.KindRequest {
			c.respond(h.ID, h.Route, nil, fmt.Errorf("%w %q on member %s", ErrNoHandler, h.Route, m.id))
		}
		return
	}
	req := &Request{From: c.peer, Route: h.Route, Payload: p}
	if e.inline {
		resp, err := c.runHandler(m.group.Context(), e.h, req)
		if h.Kind == wire.KindRequest {
			c.respond(h.ID, h.Route, resp, err)
		}
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.done:
		return
	}
	started := m.group.Go(func(ctx context.Context) {
		defer func() { <-c.sem }()
		var cancel context.CancelFunc
		if h.Timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(h.Timeout)*time.Microsecond)
		} else {
			ctx, cancel = context.WithCancel(ctx)
		}
		defer cancel()
		if h.Kind == wire.KindRequest {
			c.serving.Store(h.ID, cancel)
			defer c.serving.Delete(h.ID)
		}
		resp, err := c.runHandler(ctx, e.h, req)
		if h.Kind == wire.KindRequest {
			c.respond(h.ID, h.Route, resp, err)
		}
	})
	if !started {
		<-c.sem
	}
}

func (c *conn) runHandler(ctx context.Context, h Handler, req *Request) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.t.m.log.Error("transport: handler panicked", "route", req.Route, "from", req.From, "panic", r)
			err = fmt.Errorf("handler %q panicked: %v", req.Route, r)
		}
	}()
	return h(ctx, req)
}

// respond sends the response to request id on route.
func (c *conn) respond(id uint64, route string, payload []byte, err error) {
	h := wire.Header{Kind: wire.KindResponse, ID: id}
	if err != nil {
		h.Code = errorCode(err)
		h.Message = err.Error()
		if h.Message == "" {
			h.Message = "error"
		}
		payload = nil
	}
	if serr := c.sendFor(context.Background(), &h, payload, route); serr != nil && !errors.Is(serr, ErrConnectionLost) && !errors.Is(serr, ErrClosed) {
		// The response itself could not be sent (too large): tell the caller why.
		h = wire.Header{Kind: wire.KindResponse, ID: id, Message: "response not sent: " + serr.Error()}
		_ = c.sendFor(context.Background(), &h, nil, route)
	}
}

func (c *conn) call(ctx context.Context, route string, payload []byte) ([]byte, error) {
	p, err := c.begin(ctx, route, payload)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// begin queues a request and returns without waiting for the response.
func (c *conn) begin(ctx context.Context, route string, payload []byte) (*Pending, error) {
	id := c.nextID.Add(1)
	ch := make(chan response, 1)
	c.calls.Store(id, ch)
	h := wire.Header{Kind: wire.KindRequest, ID: id, Route: route}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			c.calls.Delete(id)
			return nil, context.DeadlineExceeded
		}
		h.Timeout = max(uint64(left/time.Microsecond), 1)
	}
	if err := c.send(ctx, &h, payload); err != nil {
		c.calls.Delete(id)
		return nil, err
	}
	return &Pending{c: c, id: id, ch: ch, route: route}, nil
}

// Pending is a request sent by Begin whose response has not been read yet.
type Pending struct {
	c     *conn
	id    uint64
	ch    chan response
	route string
	local *response // the result of a request to this member itself
}

// Wait waits for the response. If ctx ends first, the request is cancelled
// on the receiving member. Wait must be called once.
func (p *Pending) Wait(ctx context.Context) ([]byte, error) {
	if p.local != nil {
		return p.local.payload, p.local.err
	}
	select {
	case r := <-p.ch:
		if re, ok := r.err.(*RemoteError); ok {
			re.Route = p.route
		}
		return r.payload, r.err
	case <-ctx.Done():
		if _, pending := p.c.calls.LoadAndDelete(p.id); pending {
			cancel := wire.Header{Kind: wire.KindCancel, ID: p.id}
			_ = p.c.send(context.Background(), &cancel, nil)
		}
		return nil, ctx.Err()
	}
}

func (c *conn) oneWay(ctx context.Context, route string, payload []byte) error {
	h := wire.Header{Kind: wire.KindOneWay, Route: route}
	return c.send(ctx, &h, payload)
}

// close closes the connection once, failing pending calls and streams.
func (c *conn) close(reason error) {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.closed = true
	if !errors.Is(reason, ErrConnectionLost) && !errors.Is(reason, ErrClosed) {
		reason = fmt.Errorf("%w %s: %v", ErrConnectionLost, c.peer, reason)
	}
	c.closeErr = reason
	if c.wspace != nil {
		close(c.wspace)
		c.wspace = nil
	}
	c.wmu.Unlock()
	close(c.done)
	_ = c.nc.Close()
	c.calls.Range(func(id uint64, ch chan response) bool {
		if _, ok := c.calls.LoadAndDelete(id); ok {
			ch <- response{err: reason}
		}
		return true
	})
	c.serving.Range(func(_ uint64, cancel context.CancelFunc) bool {
		cancel()
		return true
	})
	c.streams.Range(func(_ uint64, s *Stream) bool {
		s.fail(reason)
		return true
	})
	c.t.forget(c)
}
