package member

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/wire"
)

// Stream is an ordered, bidirectional flow of messages between two members,
// for bulk data such as distributed DAG edges. Flow control is counted in
// bytes: a side may have at most the receiver's window (Config.StreamWindow)
// of sent-but-unconsumed bytes, so a slow consumer bounds the memory a fast
// producer can use, however large its messages.
//
// One goroutine may Send while another Recvs; Send and Recv are each meant
// for a single goroutine at a time.
type Stream struct {
	c      *conn
	id     uint64
	route  string
	hello  []byte
	window int
	// recycled says the receiver gives back every message with Recycle: the
	// connection reads them into pooled buffers.
	recycled atomic.Bool

	mu      sync.Mutex // guards everything below
	credit  int        // bytes this side may still send
	queue   [][]byte   // received, not yet consumed
	qhead   int
	queued  int   // bytes received, not yet consumed
	used    int   // bytes consumed since the last credit grant
	peerErr error // set when the peer closed (io.EOF for a clean close)
	local   error // set when this side closed
	// wake is closed, and replaced, to wake the goroutines waiting in Send
	// or Recv; waiting counts them, so that a frame arriving while nobody
	// waits (the common case on a busy stream) allocates no channel.
	wake    chan struct{}
	waiting int
}

func newStream(c *conn, id uint64, route string, hello []byte, window int) *Stream {
	return &Stream{c: c, id: id, route: route, hello: hello, window: window, credit: window, wake: make(chan struct{})}
}

// openStream opens a stream to route on member to, sending hello as the
// opening message the handler reads with Hello. It does not wait for the
// peer: if the peer has no handler, the first Send or Recv reports it.
func (m *Member) openStream(ctx context.Context, to, route string, hello []byte) (*Stream, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	c, err := m.transport.connTo(ctx, to)
	if err != nil {
		return nil, err
	}
	id := m.transport.streams.nextID()
	s := newStream(c, id, route, hello, m.cfg.StreamWindow)
	c.streams.Store(id, s)
	h := wire.Header{Kind: wire.KindStreamOpen, ID: id, Route: route}
	if err := c.send(ctx, &h, hello); err != nil {
		c.streams.Delete(id)
		return nil, err
	}
	return s, nil
}

// Peer is the ID of the member at the other end.
func (s *Stream) Peer() string { return s.c.peer }

// Route is the route the stream was opened on.
func (s *Stream) Route() string { return s.route }

// Hello is the opening message.
func (s *Stream) Hello() []byte { return s.hello }

// wakeLocked wakes every goroutine waiting on the stream.
func (s *Stream) wakeLocked() {
	if s.waiting > 0 {
		close(s.wake)
		s.wake = make(chan struct{})
	}
}

// waitLocked waits, with s.mu released, until wakeLocked is called or ctx
// ends; it returns with s.mu held.
func (s *Stream) waitLocked(ctx context.Context) error {
	s.waiting++
	wake := s.wake
	s.mu.Unlock()
	var err error
	select {
	case <-wake:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	s.waiting--
	return err
}

// Send sends one message, waiting while the peer's window is full. A message
// larger than the window is sent once nothing else is in flight.
func (s *Stream) Send(ctx context.Context, msg []byte) error {
	s.mu.Lock()
	for {
		if s.local != nil {
			s.mu.Unlock()
			return ErrStreamClosed
		}
		if s.peerErr != nil {
			err := s.peerErr
			s.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return ErrStreamClosed
			}
			return err
		}
		if s.credit >= len(msg) || s.credit == s.window {
			break
		}
		if err := s.waitLocked(ctx); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.credit -= len(msg)
	s.mu.Unlock()
	h := wire.Header{Kind: wire.KindStreamData, ID: s.id}
	return s.c.send(ctx, &h, msg)
}

// Recv returns the next message. After the peer closes cleanly and every
// message was read, it returns io.EOF; if the peer closed with an error, that
// error.
func (s *Stream) Recv(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	for s.qhead == len(s.queue) {
		if s.local != nil {
			s.mu.Unlock()
			return nil, ErrStreamClosed
		}
		if s.peerErr != nil {
			err := s.peerErr
			s.mu.Unlock()
			return nil, err
		}
		if err := s.waitLocked(ctx); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	msg := s.queue[s.qhead]
	s.queue[s.qhead] = nil
	s.qhead++
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	}
	s.queued -= len(msg)
	s.used += len(msg)
	grant := 0
	if s.used >= s.window/4 {
		grant, s.used = s.used, 0
	}
	s.mu.Unlock()
	if grant > 0 {
		h := wire.Header{Kind: wire.KindStreamCredit, ID: s.id}
		_ = s.c.send(context.Background(), &h, binary.AppendUvarint(nil, uint64(grant)))
	}
	return msg, nil
}

// RecycleMessages promises that every message Recv returns from now on
// will be given back with Recycle once nothing refers to its memory, or
// else be dropped. The connection then reads this stream's messages into
// pooled buffers, so a busy stream allocates nothing per message, and the
// garbage collector has nothing to collect.
func (s *Stream) RecycleMessages() { s.recycled.Store(true) }

// Recycle gives back a message Recv returned, for the connection to read
// another into. The caller must be done with msg and with everything that
// shares its memory: strings and slices decoded from it change when the
// buffer is reused.
func (s *Stream) Recycle(msg []byte) { wire.PutBuffer(msg) }

// receive handles a frame for this stream from the connection's reader.
func (s *Stream) receive(h wire.Header, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch h.Kind {
	case wire.KindStreamData:
		if s.local != nil {
			break
		}
		if s.queued >= s.window {
			// Only a message sent with full credit may overfill the window.
			s.peerErr = fmt.Errorf("stream %s from member %s: peer ignored flow control", s.route, s.c.peer)
			break
		}
		s.queue = append(s.queue, p)
		s.queued += len(p)
	case wire.KindStreamCredit:
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(s.window) {
			s.peerErr = fmt.Errorf("stream %s from member %s: bad credit frame", s.route, s.c.peer)
		} else {
			s.credit += int(n)
			if s.credit > s.window {
				s.credit = s.window
			}
		}
	case wire.KindStreamClose:
		if h.Code != "" || h.Message != "" {
			s.peerErr = &RemoteError{Member: s.c.peer, Route: s.route, Code: h.Code, Message: h.Message}
		} else {
			s.peerErr = io.EOF
		}
		if s.local != nil {
			s.c.streams.Delete(s.id)
		}
	}
	s.wakeLocked()
}

// fail is called when the connection breaks.
func (s *Stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peerErr == nil {
		s.peerErr = err
	}
	s.wakeLocked()
}

// Close ends the stream cleanly: the peer's Recv returns io.EOF after the
// messages already sent.
func (s *Stream) Close() error { return s.closeWith(nil) }

// CloseWithError ends the stream; the peer's Recv returns a *RemoteError
// with err's message (and code, if registered).
func (s *Stream) CloseWithError(err error) error { return s.closeWith(err) }

func (s *Stream) closeWith(err error) error {
	s.mu.Lock()
	if s.local != nil {
		s.mu.Unlock()
		return nil
	}
	s.local = ErrStreamClosed
	peerDone := s.peerErr != nil
	s.queue, s.qhead, s.queued = nil, 0, 0
	s.wakeLocked()
	s.mu.Unlock()
	if peerDone {
		s.c.streams.Delete(s.id)
	}
	h := wire.Header{Kind: wire.KindStreamClose, ID: s.id}
	if err != nil {
		h.Code = errorCode(err)
		h.Message = err.Error()
	}
	return s.c.send(context.Background(), &h, nil)
}
