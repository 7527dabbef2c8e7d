package ops

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// ServiceName is the endpoint's name among a member's services.
const ServiceName = "ops"

// Service is the HTTP endpoint, listening on the member's Config.HTTPAddr.
// It is a local service: members of one cluster may differ in whether
// they serve it. Give it after grid.Service and dag.Service.
func Service() member.Service {
	return member.Service{Name: ServiceName, Attach: attach, Local: true}
}

// Addr returns the address the endpoint of member m listens on, such as
// "127.0.0.1:6701" ("" when m serves none).
func Addr(m member.Services) string {
	if s, ok := m.Service(ServiceName).(*service); ok {
		return s.ln.Addr().String()
	}
	return ""
}

type service struct {
	h        *member.Host
	ln       net.Listener
	srv      *http.Server
	token    string
	loopback bool
	served   chan struct{}
}

func attach(h *member.Host) (member.Attached, error) {
	if h.Service(grid.ServiceName) == nil || h.Service(dag.ServiceName) == nil {
		return nil, fmt.Errorf("the ops endpoint reports on maps and jobs: attach %s and %s before %s", grid.ServiceName, dag.ServiceName, ServiceName)
	}
	cfg := h.Config()
	if cfg.HTTPAddr == "" {
		return nil, errors.New("ops: Config.HTTPAddr is empty")
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http listen on %s: %w", cfg.HTTPAddr, err)
	}
	s := &service{h: h, ln: ln, token: cfg.HTTPToken, loopback: isLoopback(ln.Addr()), served: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(h))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.read(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})))
	s.routes(mux)
	mux.Handle("GET /", consoleHandler())
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	grid.EnableStats(h, true)
	if !h.Go(func(ctx context.Context) {
		defer close(s.served)
		// Terminate stops the member's goroutines before its services:
		// the server must close when they are told to stop.
		stop := context.AfterFunc(ctx, func() { _ = s.srv.Close() })
		defer stop()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.Logger().Error("http endpoint stopped", "addr", ln.Addr().String(), "err", err)
		}
	}) {
		_ = ln.Close()
		return nil, member.ErrClosed
	}
	h.Logger().Info("http endpoint listening", "addr", "http://"+ln.Addr().String())
	return s, nil
}

func (s *service) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.served
	return err
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// authorized reports whether r carries the member's token.
func (s *service) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// read serves a read: without a token on a loopback endpoint, with it
// elsewhere.
func (s *service) read(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.loopback && !s.authorized(r) {
			s.refuse(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// write serves a call that changes state: with the token only.
func (s *service) write(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			s.refuse(w, r)
			return
		}
		h(w, r)
	})
}

func (s *service) refuse(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.token == "":
		writeError(w, http.StatusForbidden, "this member has no HTTP token configured (--http-token, $WEIR_HTTP_TOKEN or Config.HTTPToken): it refuses calls that need one")
	case r.Header.Get("Authorization") == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
		writeError(w, http.StatusUnauthorized, "this call needs the member's token (Authorization: Bearer <token>)")
	default:
		writeError(w, http.StatusForbidden, "wrong token")
	}
}

func (s *service) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.h.IsClosed() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *service) readyz(w http.ResponseWriter, _ *http.Request) {
	if ok, why := s.h.Readiness(); !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
