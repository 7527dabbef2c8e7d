package member

import (
	"context"
	"fmt"
	"sync"
)

// Request is one request or one-way message received from a member.
type Request struct {
	From    string // ID of the sending member
	Route   string
	Payload []byte // owned by the handler
}

// Handler serves a route. Its context ends when the caller stops waiting
// (deadline or cancellation) or the member shuts down. The returned bytes are
// the response; an error is sent back as a *RemoteError, keeping the code of
// a sentinel registered with RegisterErrorCode.
type Handler func(ctx context.Context, req *Request) ([]byte, error)

// StreamHandler serves streams opened on a route. The stream is closed when
// the handler returns.
type StreamHandler func(ctx context.Context, s *Stream)

// HandlerOption changes how a handler runs.
type HandlerOption func(*handlerEntry)

// Inline runs the handler on the connection's reader goroutine, in arrival
// order, without starting a goroutine. Only for handlers that never block:
// anything slow stalls every frame from that member.
func Inline() HandlerOption { return func(e *handlerEntry) { e.inline = true } }

type handlerEntry struct {
	h      Handler
	inline bool
}

// registry maps routes to handlers. Routes are registered at start-up and
// read on every frame, so reads take a read lock only.
type registry struct {
	mu       sync.RWMutex
	handlers map[string]handlerEntry
	streams  map[string]StreamHandler
}

func newRegistry() *registry {
	return &registry{handlers: map[string]handlerEntry{}, streams: map[string]StreamHandler{}}
}

// handle registers h for route, replacing any previous handler. Routes are
// conventionally "service.operation", e.g. "map.put".
func (m *Member) handle(route string, h Handler, opts ...HandlerOption) {
	e := handlerEntry{h: h}
	for _, o := range opts {
		o(&e)
	}
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	m.routes.handlers[route] = e
}

// handleStream registers h for streams opened on route.
func (m *Member) handleStream(route string, h StreamHandler) {
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	m.routes.streams[route] = h
}

func (r *registry) handler(route string) (handlerEntry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.handlers[route]
	return e, ok
}

func (r *registry) streamHandler(route string) (StreamHandler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.streams[route]
	return h, ok
}

// call sends payload to route on member to and waits for the response. A
// call to this member's own ID runs the handler directly.
//
// If the connection breaks before the response arrives, the error wraps
// ErrConnectionLost: the request may or may not have been applied, so only
// idempotent or deduplicated requests should be retried.
func (m *Member) call(ctx context.Context, to, route string, payload []byte) ([]byte, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if to == m.id {
		return m.callLocal(ctx, route, payload)
	}
	c, err := m.transport.connTo(ctx, to)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, route, payload)
}

// begin sends a request without waiting for its response, which Wait on
// the returned Pending reads. Requests begun from one goroutine to one member
// are queued on the connection in the order of the Begin calls, so a caller
// that must order messages (replication) can begin several and then wait for
// all. A request to this member's own ID runs the handler before Begin
// returns.
func (m *Member) begin(ctx context.Context, to, route string, payload []byte) (*Pending, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if to == m.id {
		resp, err := m.callLocal(ctx, route, payload)
		return &Pending{local: &response{payload: resp, err: err}}, nil
	}
	c, err := m.transport.connTo(ctx, to)
	if err != nil {
		return nil, err
	}
	return c.begin(ctx, route, payload)
}

// send sends a one-way message: it returns once the message is queued on the
// connection, without waiting for the handler. Messages sent to one member
// from one goroutine arrive in order.
func (m *Member) send(ctx context.Context, to, route string, payload []byte) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if to == m.id {
		_, err := m.callLocal(ctx, route, payload)
		return err
	}
	c, err := m.transport.connTo(ctx, to)
	if err != nil {
		return err
	}
	return c.oneWay(ctx, route, payload)
}

func (m *Member) callLocal(ctx context.Context, route string, payload []byte) (resp []byte, err error) {
	e, ok := m.routes.handler(route)
	if !ok {
		return nil, fmt.Errorf("%w %q on member %s", ErrNoHandler, route, m.id)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler %q panicked: %v", route, r)
		}
	}()
	return e.h(ctx, &Request{From: m.id, Route: route, Payload: payload})
}
