package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/weir-dev/weir/partition"
)

// Service describes a service that Start attaches to a member: distributed
// maps (grid.Service), the job engine (dag.Service), or one of your own.
// Services are composed in code, in the order given to Start: one that uses
// another is given after it, and its Attach finds it with Host.Service.
//
// A member advertises the names of its services in its gossip metadata.
// Data members of one cluster must serve the same names: partitions move
// between data members, so one without the grid could not take them. A data
// member that serves other names is refused at join, with both lists in the
// error. Lite members hold no partitions and may serve any subset.
type Service struct {
	// Name identifies the service on the member, in its metadata and in
	// errors; names are unique per member.
	Name string
	// Attach builds the service on the member being started, before it
	// joins the cluster: it registers the service's routes and replica
	// service on h and starts its goroutines with h.Go. The member then
	// sees only itself; what the service does on membership waits for
	// h.Ready. An error stops Start, which shuts down the services attached
	// before this one.
	Attach func(h *Host) (Attached, error)
	// Local marks an endpoint that serves this member's own clients, such
	// as an HTTP or RESP listener: it is neither advertised nor checked at
	// join, so members may differ in which local services they run.
	Local bool
}

// Attached is a service running on a member.
type Attached interface {
	// Shutdown is called during the member's Shutdown, after its partitions
	// have moved to other members and before the transport closes, in the
	// reverse order of attachment.
	Shutdown(ctx context.Context) error
}

// Services finds the services attached to a member. The user's *Member, the
// services' *Host and a job processor's context implement it, so that
// grid.GetMap and dag.Submit take any of them.
type Services interface {
	// Service returns the attached service called name, or nil.
	Service(name string) Attached
}

var (
	_ Services = (*Member)(nil)
	_ Services = (*Host)(nil)
)

// Service returns the attached service called name, or nil when the member
// does not serve it.
func (m *Member) Service(name string) Attached { return m.services.get(name) }

// ServiceNames lists the names of the member's services in attachment order.
func (m *Member) ServiceNames() []string { return slices.Clone(m.services.names) }

// Host is the side of a member that services are built on: routes, calls
// and streams to other members, tracked goroutines, partition-table hooks
// and replica services, with the reads of the member itself (ID, Members,
// Partitions, ...). Start hands it to each Service's Attach. Users hold the
// *Member, which has none of the service side.
type Host struct {
	*Member
}

// Logger is the member's logger.
func (h *Host) Logger() *slog.Logger { return h.log }

// Ready is closed once Start has succeeded: the member has joined and knows
// a partition table. Services attach before the member joins, when it sees
// only itself (and so takes itself for the coordinator): what they do on
// membership waits for Ready.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Go runs fn on a goroutine that the member tracks: fn's context is
// cancelled at Shutdown, which waits for fn to return. Reports false,
// without running fn, once the member is shut down.
func (h *Host) Go(fn func(ctx context.Context)) bool { return h.group.Go(fn) }

// Handle registers hd for route, replacing any previous handler. Routes are
// conventionally "service.operation", e.g. "map.put".
func (h *Host) Handle(route string, hd Handler, opts ...HandlerOption) {
	h.handle(route, hd, opts...)
}

// HandleStream registers hd for streams opened on route.
func (h *Host) HandleStream(route string, hd StreamHandler) { h.handleStream(route, hd) }

// Call sends payload to route on member to and waits for the response. A
// call to this member's own ID runs the handler directly.
//
// If the connection breaks before the response arrives, the error wraps
// ErrConnectionLost: the request may or may not have been applied, so only
// idempotent or deduplicated requests should be retried.
func (h *Host) Call(ctx context.Context, to, route string, payload []byte) ([]byte, error) {
	return h.call(ctx, to, route, payload)
}

// Begin sends a request without waiting for its response, which Wait on
// the returned Pending reads. Requests begun from one goroutine to one member
// are queued on the connection in the order of the Begin calls, so a caller
// that must order messages (replication) can begin several and then wait for
// all. A request to this member's own ID runs the handler before Begin
// returns.
func (h *Host) Begin(ctx context.Context, to, route string, payload []byte) (*Pending, error) {
	return h.begin(ctx, to, route, payload)
}

// Send sends a one-way message: it returns once the message is queued on the
// connection, without waiting for the handler. Messages sent to one member
// from one goroutine arrive in order.
func (h *Host) Send(ctx context.Context, to, route string, payload []byte) error {
	return h.send(ctx, to, route, payload)
}

// OpenStream opens a stream to route on member to, sending hello as the
// stream's first message; see Stream.
func (h *Host) OpenStream(ctx context.Context, to, route string, hello []byte) (*Stream, error) {
	return h.openStream(ctx, to, route, hello)
}

// RegisterReplicaService registers s under name. Register the same names on
// every member, before data exists (from a Service's Attach).
func (h *Host) RegisterReplicaService(name string, s ReplicaService) {
	h.registerReplicaService(name, s)
}

// ImportCommit returns the version of the table that commits the copy of
// partition p this member received, or 0 when it holds none waiting for a
// table. A table change listener keeps a copy that a later table commits,
// even if the table it is told about does not list this member for p: a
// member behind the coordinator may learn of an older table after the copy
// arrived.
func (h *Host) ImportCommit(p int) uint64 { return h.importCommit(p) }

// OnTableChange registers fn to run, in order, each time a new table is
// applied (old is nil for the first). fn runs with the table lock held and
// must be quick; it must not call methods that apply tables. The returned
// function unregisters it.
func (h *Host) OnTableChange(fn func(old, new *partition.Table)) (remove func()) {
	return h.onTableChange(fn)
}

// attachedServices holds a member's services in attachment order.
type attachedServices struct {
	defs   []Service
	names  []string // immutable after init: read without the lock
	shared []string // names of the services that are not Local: advertised and checked at join

	mu       sync.Mutex // guards byName, attached
	byName   map[string]Attached
	attached []string // attached so far, in order; emptied by shutdown
}

func (s *attachedServices) init(defs []Service) error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range defs {
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("service %d has no name", i))
		case d.Attach == nil:
			errs = append(errs, fmt.Errorf("service %q has no Attach function", d.Name))
		case seen[d.Name]:
			errs = append(errs, fmt.Errorf("service %q given twice", d.Name))
		}
		seen[d.Name] = true
		s.names = append(s.names, d.Name)
		if !d.Local {
			s.shared = append(s.shared, d.Name)
		}
	}
	s.defs = defs
	s.byName = map[string]Attached{}
	return errors.Join(errs...)
}

func (s *attachedServices) attach(h *Host) error {
	for _, d := range s.defs {
		a, err := d.Attach(h)
		if err != nil {
			return fmt.Errorf("attach service %s: %w", d.Name, err)
		}
		if a == nil {
			return fmt.Errorf("attach service %s: Attach returned no service", d.Name)
		}
		s.mu.Lock()
		s.byName[d.Name] = a
		s.attached = append(s.attached, d.Name)
		s.mu.Unlock()
	}
	return nil
}

func (s *attachedServices) get(name string) Attached {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

// shutdown shuts the attached services down, the last attached first. Only
// the first call does anything.
func (s *attachedServices) shutdown(ctx context.Context) error {
	s.mu.Lock()
	order := s.attached
	s.attached = nil
	s.mu.Unlock()
	var errs []error
	for _, name := range slices.Backward(order) {
		if err := s.get(name).Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// sameServices reports whether two members' service lists name the same
// services, in any order.
func sameServices(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
