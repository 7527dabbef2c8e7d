package resp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// ServiceName is the name the endpoint is attached under.
const ServiceName = "resp"

// DefaultMap is the map that holds the string commands' keys (GET, SET,
// INCR, ...): grid.GetMap[string, string](m, resp.DefaultMap) reads them.
// A hash is the map of its name, so HGET default k and GET k read the same
// entry.
const DefaultMap = "default"

// Limits bound what one client may make the member hold. Zero values take
// the defaults.
type Limits struct {
	// MaxRequest bounds the bytes of the commands read at once: one
	// command, or the part of a pipeline not yet answered. A client that
	// sends more without its commands being complete is disconnected with
	// an error. Default 32 MiB (values are limited to 16 MiB by the maps).
	MaxRequest int
	// MaxArgs bounds the arguments of one command. Default 1,048,576.
	MaxArgs int
	// WriteTimeout bounds one write of replies to a client; a client that
	// reads nothing for this long (for at least 3/4 of it) is
	// disconnected. Default 30s.
	WriteTimeout time.Duration
	// MaxClients bounds the connected clients; more are answered with an
	// error and closed. Default 10,000.
	MaxClients int
	// PubSubBuffer bounds the map events queued to a subscriber; one that
	// falls this far behind is disconnected, as Redis disconnects a
	// subscriber over its output limit. Default 4096.
	PubSubBuffer int
}

func (l Limits) withDefaults() Limits {
	if l.MaxRequest <= 0 {
		l.MaxRequest = 32 << 20
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = 1 << 20
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 30 * time.Second
	}
	if l.MaxClients <= 0 {
		l.MaxClients = 10_000
	}
	if l.PubSubBuffer <= 0 {
		l.PubSubBuffer = 4096
	}
	return l
}

// Options configure the endpoint.
type Options struct {
	Limits
	// NearCache keeps, on this member, a copy of the string keys its
	// clients read (grid.WithNearCache on DefaultMap), so that a GET of a
	// key another member owns costs no request once read. A client reads
	// its own writes through its member at once, but a write through
	// another member reaches this member's copy when the owner's
	// invalidation does (usually well under a millisecond, longer under
	// load or across a network partition): Redis itself has no such lag.
	// Off by default.
	NearCache bool
}

// Service returns the RESP endpoint as a member service: it listens on the
// member's Config.RESPAddr (a member without one serves nothing) and serves
// the maps of the grid service, which must be attached before it. It is
// Local: members of one cluster may differ in whether they serve RESP.
// weir.Start attaches it when Config.RESPAddr is set.
func Service(o Options) member.Service {
	o.Limits = o.Limits.withDefaults()
	return member.Service{Name: ServiceName, Local: true, Attach: func(h *member.Host) (member.Attached, error) {
		return attach(h, o)
	}}
}

// Server is the RESP endpoint of one member.
type Server struct {
	h      *member.Host
	ln     net.Listener
	limits Limits
	secret []byte
	start  time.Time

	strs *grid.Map[string, string]

	mu      sync.Mutex // guards clients, closed
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup // connections being served

	nextID      atomic.Int64
	connections atomic.Int64 // received since start
	commands    atomic.Int64 // processed since start
	rejected    atomic.Int64 // connections refused over MaxClients
}

// Of returns the RESP endpoint attached to m, or nil.
func Of(m member.Services) *Server {
	s, _ := m.Service(ServiceName).(*Server)
	return s
}

// Addr is the address the endpoint listens on, or "" if it serves nothing.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func attach(h *member.Host, o Options) (*Server, error) {
	if h.Service(grid.ServiceName) == nil {
		return nil, errors.New("resp: the grid service must be attached before it")
	}
	s := &Server{h: h, limits: o.Limits, secret: h.Config().SecretKey, start: time.Now(), clients: map[*client]struct{}{}}
	var opts []grid.MapOption
	if o.NearCache {
		opts = append(opts, grid.WithNearCache(grid.NearCacheConfig{}))
	}
	s.strs = grid.GetMap[string, string](h, DefaultMap, opts...)
	addr := h.Config().RESPAddr
	if addr == "" {
		return s, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resp: listen on %s: %w", addr, err)
	}
	s.ln = ln
	if !h.Go(s.accept) {
		ln.Close()
		return nil, errors.New("resp: member is shutting down")
	}
	h.Logger().Info("serving RESP", "addr", ln.Addr().String())
	return s, nil
}

func (s *Server) accept(ctx context.Context) {
	// A member terminated without Shutdown cancels ctx only.
	defer context.AfterFunc(ctx, func() { s.ln.Close() })()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.h.Logger().Warn("resp: accept", "err", err)
			return
		}
		s.connections.Add(1)
		c := newClient(s, nc)
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			nc.Close()
			return
		case len(s.clients) >= s.limits.MaxClients:
			s.mu.Unlock()
			s.rejected.Add(1)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
			nc.Close()
			continue
		}
		s.clients[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		served := s.h.Go(func(ctx context.Context) {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.clients, c)
			s.mu.Unlock()
		})
		if !served {
			s.wg.Done()
			nc.Close()
			return
		}
	}
}

// Shutdown stops accepting clients, disconnects those connected and waits
// for their commands in progress to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, c := range cs {
		c.close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("resp: clients still being served: %w", ctx.Err())
	}
}

func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// ownsKey reports whether this member owns k's partition in the default
// map now (an operation on it then runs here, without a request).
func (s *Server) ownsKey(k string) bool {
	p, err := s.strs.Partition(k)
	if err != nil {
		return false
	}
	t := s.h.Partitions()
	return t != nil && t.Owner(p) == s.h.ID()
}
