package dag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// ServiceName is the job engine's name among a member's services.
const ServiceName = "dag"

// Routes of the job service.
const (
	routeSubmit   = "job.submit"   // to the coordinator: start a job
	routeInit     = "job.init"     // coordinator -> members: build the execution
	routeStart    = "job.start"    // coordinator -> members: run it
	routeAbort    = "job.abort"    // coordinator -> members: stop it
	routeFinished = "job.finished" // member -> coordinator: my part ended
	routeCancel   = "job.cancel"   // to the coordinator: a user cancels
	routeMetrics  = "job.metrics"  // to a member: its processors' counters
)

// Service is the job engine, to give to member.Start after grid.Service
// (weir.Start gives both): the member then runs its share of every job as a
// data member, and submits and controls jobs either way. Its job records
// live in a grid map, so the grid must be attached first.
func Service() member.Service { return member.Service{Name: ServiceName, Attach: attach} }

// service is the job engine on one member: the executions it runs, and, on
// the coordinator, the jobs it coordinates.
type service struct {
	m           *member.Host
	log         *slog.Logger
	jobs        *grid.Map[string, jobRecord]
	jobsChanged run.Signal
	unlisten    func()

	// recordFault, when set, runs before each job record write with the
	// record's last snapshot, and an error it returns fails the write.
	// Tests set it: the grid fails a write only in rare timing windows, such
	// as a quorum lost between a snapshot's last acknowledgement and its
	// record.
	recordFault atomic.Pointer[func(snapshot uint64) error]
	// refuseSetups, when positive, is how many more execution setups this
	// member refuses as one does that awaits the coordinator's partition
	// table. Tests set it: a member is in that state only in timing
	// windows (back from a split or a stall, or just joined).
	refuseSetups atomic.Int64
	// initHook, when set, runs once an execution is set up here, before it
	// is recorded: tests hold a setup there.
	initHook atomic.Pointer[func(execution uint64)]

	// adoptMu serialises the takeovers of uncoordinated jobs; adoptWanted
	// asks for one (see adoptLater).
	adoptMu     sync.Mutex
	adoptWanted atomic.Bool

	mu    sync.Mutex // guards everything below
	execs map[string]*execution
	// newest is the newest execution of each job set up here: an older one
	// (from a coordinator that lost the job) is refused.
	newest map[string]uint64
	coord  map[string]*coordJob
	closed bool
}

func attach(m *member.Host) (member.Attached, error) {
	if m.Service(grid.ServiceName) == nil {
		return nil, fmt.Errorf("the job engine keeps its records in maps: attach %s before %s", grid.ServiceName, ServiceName)
	}
	s := &service{m: m, log: m.Logger(), execs: map[string]*execution{}, newest: map[string]uint64{}, coord: map[string]*coordJob{}}
	s.jobs = grid.GetMap[string, jobRecord](m, jobsMap, grid.WithOpTimeout(time.Minute))
	s.unlisten = s.jobs.AddListener(func(grid.Event[string, jobRecord]) { s.jobsChanged.Broadcast() })
	m.Handle(routeSubmit, s.handleSubmit)
	m.Handle(routeInit, s.handleInit)
	m.Handle(routeStart, s.handleStart)
	m.Handle(routeAbort, s.handleAbort)
	m.Handle(routeFinished, s.handleFinished)
	m.Handle(routeCancel, s.handleCancel)
	m.Handle(routeMetrics, s.handleMetrics)
	m.Handle(routeSnapBegin, s.handleSnapBegin)
	m.Handle(routeSnapAck, s.handleSnapAck)
	m.Handle(routeSnapCommit, s.handleSnapCommit)
	m.Handle(routeSnapReady, s.handleSnapReady)
	m.Handle(routeControl, s.handleControl)
	m.HandleStream(routeEdge, s.handleEdge)
	m.Go(s.watchMembers)
	m.Go(s.adoptEvery)
	return s, nil
}

// serviceOf finds the job service of a member. A member without one is a
// programming error, reported as such: the member was started without
// dag.Service (weir.Start gives it).
func serviceOf(m member.Services) *service {
	s, ok := m.Service(ServiceName).(*service)
	if !ok {
		panic("dag: the member runs no jobs: start it with weir.Start, or give grid.Service() and dag.Service() to member.Start")
	}
	return s
}

// Shutdown stops every execution on this member.
func (s *service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	execs := make([]*execution, 0, len(s.execs))
	for _, ex := range s.execs {
		execs = append(execs, ex)
	}
	s.mu.Unlock()
	for _, ex := range execs {
		// A cluster change for the job: it restarts on the other members.
		ex.abort(fmt.Errorf("%w: member %s is shutting down", errClusterChanged, s.m.ID()))
	}
	for _, ex := range execs {
		select {
		case <-ex.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.unlisten()
	return nil
}

type submitMsg struct {
	Name   string    `msgpack:"n"`
	Params []byte    `msgpack:"p"`
	Config JobConfig `msgpack:"c"`
}

type jobRef struct {
	JobID     string `msgpack:"j"`
	Execution uint64 `msgpack:"e,omitempty"`
	Reason    string `msgpack:"r,omitempty"`
	Cancelled bool   `msgpack:"c,omitempty"`
	// Wait: an abort answers once the execution has stopped.
	Wait bool `msgpack:"w,omitempty"`
	// Transient: an abort because the cluster changed; the execution ends
	// with errClusterChanged, so that its report, should it reach the
	// coordinator before the job is marked restarting, restarts the job
	// rather than fails it.
	Transient bool `msgpack:"t,omitempty"`
}

type finishedMsg struct {
	JobID     string `msgpack:"j"`
	Execution uint64 `msgpack:"e"`
	Member    int    `msgpack:"m"`
	Error     string `msgpack:"r,omitempty"`
	// Transient: the execution stopped because the cluster changed (a
	// connection to a member broke), not because a processor failed; the
	// job restarts rather than fails.
	Transient bool `msgpack:"t,omitempty"`
}

// transient reports whether an execution error comes from the cluster
// changing under it rather than from the job's code.
func transient(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// Errors of several members: one that lost the cluster explains
		// the others (which may be its consequences); a restart will tell.
		return slices.ContainsFunc(j.Unwrap(), transient)
	}
	if errors.Is(err, errClusterChanged) || errors.Is(err, member.ErrNoQuorum) {
		return true // a peer's execution stopped for a cluster change, or a quorum was lost, here or there
	}
	var re *member.RemoteError
	if errors.As(err, &re) {
		return false // the peer's own failure, with its cause
	}
	return errors.Is(err, member.ErrConnectionLost) || errors.Is(err, member.ErrUnknownMember) ||
		errors.Is(err, member.ErrClosed) || errors.Is(err, member.ErrNoQuorum)
}

func (s *service) submit(ctx context.Context, msg submitMsg) (string, error) {
	b, err := wire.Marshal(&msg)
	if err != nil {
		return "", err
	}
	out, err := s.callCoordinator(ctx, routeSubmit, b)
	if err != nil {
		return "", err
	}
	var ref jobRef
	if err := wire.Unmarshal(out, &ref); err != nil {
		return "", err
	}
	return ref.JobID, nil
}

// callCoordinator calls the current coordinator, retrying while it
// changes.
func (s *service) callCoordinator(ctx context.Context, route string, payload []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	backoff := 5 * time.Millisecond
	for {
		c, ok := s.m.Coordinator()
		if ok {
			out, err := s.m.Call(ctx, c.ID, route, payload)
			if err == nil || !(errors.Is(err, member.ErrConnectionLost) || errors.Is(err, member.ErrUnknownMember) || errors.Is(err, errNotCoordinator)) {
				return out, err
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

var errNotCoordinator = errors.New("dag: this member is not the coordinator")

// errClusterChanged marks an execution's failure as caused by a change of
// the cluster (a member lost, a connection broken): the job restarts rather
// than fails, also when the failure reaches other members over an edge.
var errClusterChanged = errors.New("dag: the cluster changed")

// noExecution says a member does not run an execution it was asked about:
// it stopped it (it lost the quorum, or a newer execution replaced it), a
// change of the cluster the job restarts from.
func noExecution(job string, execution uint64, member string) error {
	return fmt.Errorf("%w: no execution %d of job %s on member %s (stopped there)", errClusterChanged, execution, job, member)
}

func init() {
	member.RegisterErrorCode("dag.not-coordinator", errNotCoordinator)
	member.RegisterErrorCode("dag.cluster-changed", errClusterChanged)
}

// lastJobMilli is the time part of the last job ID this process made.
var lastJobMilli atomic.Int64

// newJobID makes an ID that sorts by submission: the submission time in
// milliseconds, then random bytes. The time part of the IDs one process
// makes strictly increases, so two jobs submitted within a millisecond
// still sort in order (the list sink reads jobs in ID order).
func newJobID() string {
	ms := time.Now().UnixMilli()
	for {
		last := lastJobMilli.Load()
		ms = max(ms, last+1)
		if lastJobMilli.CompareAndSwap(last, ms) {
			break
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%011x-%s", ms, hex.EncodeToString(b))
}

// handleSubmit runs on the coordinator: it plans the job, records it and
// sets it up on the members in the background.
func (s *service) handleSubmit(ctx context.Context, req *member.Request) ([]byte, error) {
	if !s.m.IsCoordinator() {
		return nil, errNotCoordinator
	}
	var msg submitMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	d, err := buildJob(msg.Name, msg.Params)
	if err != nil {
		return nil, fmt.Errorf("on coordinator %s: %w", s.m.ID(), err)
	}
	if msg.Config.Guarantee != None {
		if v := d.unreplayable(); v != "" {
			return nil, fmt.Errorf("%w: job %q asks for %s processing but its source %q cannot replay what it read (use a replayable source, such as a map journal or files, or processing guarantee none)",
				ErrNotReplayable, msg.Name, msg.Config.Guarantee, v)
		}
	}
	p, err := s.newPlan(msg, d)
	if err != nil {
		return nil, err
	}
	if name := msg.Config.FromSnapshot; name != "" {
		_, c, err := snapshot.OpenNamed(ctx, s.m, name)
		if err != nil {
			return nil, fmt.Errorf("start from snapshot %q: %w", name, err)
		}
		p.Restore = &c
	}
	planBytes, err := wire.Marshal(p)
	if err != nil {
		return nil, err
	}
	cfg := msg.Config
	if cfg.Name == "" {
		cfg.Name = msg.Name
	}
	rec := jobRecord{
		Info: JobInfo{ID: p.JobID, Name: msg.Name, Status: Starting, Submitted: time.Now(),
			Members: p.Members, Config: cfg, Coordinator: s.m.ID(), Execution: p.Execution},
		Params: msg.Params,
		Plan:   planBytes,
	}
	if p.Restore != nil {
		rec.Info.RestoredFrom = p.Restore.ID
	}
	// Coordinated here before it is recorded, so that no takeover of
	// uncoordinated jobs (adoptOrphans) takes it meanwhile.
	cj := newCoordJob(s, rec, p, d)
	s.mu.Lock()
	s.coord[p.JobID] = cj
	s.mu.Unlock()
	if err := s.jobs.Put(ctx, p.JobID, rec); err != nil {
		s.mu.Lock()
		delete(s.coord, p.JobID)
		s.mu.Unlock()
		return nil, fmt.Errorf("record job: %w", err)
	}
	if !s.m.Go(cj.run) {
		return nil, member.ErrClosed
	}
	return wire.Marshal(&jobRef{JobID: p.JobID})
}

// newPlan decides where a job runs: on every live data member, with map
// partitions assigned as the current table assigns them.
func (s *service) newPlan(msg submitMsg, d *DAG) (*plan, error) {
	var ids []string
	for _, i := range s.m.Members() {
		if !i.Lite && !i.Leaving {
			ids = append(ids, i.ID)
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("no data member to run the job on (every member is lite)")
	}
	slices.Sort(ids)
	par := msg.Config.LocalParallelism
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	p := &plan{JobID: newJobID(), Name: msg.Name, Params: msg.Params, Fingerprint: d.fingerprint(), Execution: 1,
		Members: ids, Parallelism: par, Coordinator: s.m.ID(), Config: msg.Config}
	p.Owners = make([]int, s.m.PartitionCount())
	t := s.m.Partitions()
	for part := range p.Owners {
		owner := -1
		if t != nil {
			owner = p.memberIndex(t.Owner(part))
		}
		if owner < 0 {
			owner = part % len(ids)
		}
		p.Owners[part] = owner
	}
	return p, nil
}

// refuseSetup reports whether a test asked this member to refuse the
// setup of one more execution (refuseSetups), and counts it.
func (s *service) refuseSetup() bool {
	for {
		n := s.refuseSetups.Load()
		if n <= 0 {
			return false
		}
		if s.refuseSetups.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// handleInit builds this member's execution of a job.
func (s *service) handleInit(ctx context.Context, req *member.Request) ([]byte, error) {
	// A member without a quorum, or whose partition table is stale, takes
	// no part in an execution: it would restore from its own stale copies
	// of the snapshot. A member coming back from a split is in this state
	// while the coordinator, which already sees it, restarts the job to
	// take it in; a restore there found a chunk "missing" and failed the
	// job. The coordinator restarts the job again once the member's table
	// is current.
	if !s.m.HasQuorum() || s.m.TableStale() || s.refuseSetup() {
		return nil, fmt.Errorf("%w: member %s has no quorum or awaits the coordinator's partition table", errClusterChanged, s.m.ID())
	}
	var p plan
	if err := wire.Unmarshal(req.Payload, &p); err != nil {
		return nil, err
	}
	d, err := buildJob(p.Name, p.Params)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", s.m.ID(), err)
	}
	if fp := d.fingerprint(); fp != p.Fingerprint {
		return nil, fmt.Errorf("%w: member %s has a different definition of job %q (fingerprint %s, coordinator's %s)", ErrDefinitionMismatch, s.m.ID(), p.Name, fp, p.Fingerprint)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, member.ErrClosed
	}
	if n := s.newest[p.JobID]; p.Execution <= n {
		s.mu.Unlock()
		// Execution numbers are claimed in the job record, so they never
		// repeat: this is a coordinator's that lost the job.
		return nil, fmt.Errorf("%w: member %s has set up execution %d of job %s already: execution %d is not newer", errClusterChanged, s.m.ID(), n, p.JobID, p.Execution)
	}
	s.newest[p.JobID] = p.Execution
	if old, ok := s.execs[p.JobID]; ok {
		// A change of coordination (a takeover, a restart whose abort did
		// not reach this member): the coordinator still at the old
		// execution restarts the job, it does not fail it.
		old.abort(fmt.Errorf("%w: replaced by execution %d", errClusterChanged, p.Execution))
	}
	s.mu.Unlock()
	ex, err := newExecution(s, &p, d, context.Background())
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", s.m.ID(), err)
	}
	if p.Restore != nil {
		for _, t := range ex.tasklets {
			if err := ex.restore(ctx, t, *p.Restore); err != nil {
				ex.closeProcessors()
				return nil, fmt.Errorf("member %s: %w", s.m.ID(), err)
			}
		}
		// The restored snapshot is committed; this job's next ones commit
		// after it. An exported snapshot (another job's numbering, Map
		// set) says nothing of this job's ids, which start again at 1.
		if ex.snap != nil && p.Restore.Manifest.Map == "" {
			ex.snap.commit.Store(p.Restore.ID)
			for _, t := range ex.tasklets {
				t.committed = p.Restore.ID
				t.applied.Store(p.Restore.ID)
			}
		}
	}
	if h := s.initHook.Load(); h != nil {
		(*h)(p.Execution)
	}
	s.mu.Lock()
	if n := s.newest[p.JobID]; n != p.Execution || s.closed {
		// A newer execution was set up while this one restored (two
		// coordinators for a moment, after a heal): it must not replace
		// the newer one, which would run on unreachable by its coordinator
		// (no snapshot found it again: "no execution N ... stopped there").
		s.mu.Unlock()
		ex.closeProcessors()
		return nil, fmt.Errorf("%w: member %s set up execution %d of job %s meanwhile: execution %d is not newer", errClusterChanged, s.m.ID(), n, p.JobID, p.Execution)
	}
	s.execs[p.JobID] = ex
	s.mu.Unlock()
	return nil, nil
}

func (s *service) execution(ref jobRef) (*execution, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex, ok := s.execs[ref.JobID]
	if !ok || (ref.Execution != 0 && ex.plan.Execution != ref.Execution) {
		return nil, false
	}
	return ex, true
}

func (s *service) handleStart(_ context.Context, req *member.Request) ([]byte, error) {
	var ref jobRef
	if err := wire.Unmarshal(req.Payload, &ref); err != nil {
		return nil, err
	}
	ex, ok := s.execution(ref)
	if !ok {
		return nil, noExecution(ref.JobID, ref.Execution, s.m.ID())
	}
	if !ex.start(func(err error) { s.finished(ex, err) }) {
		return nil, fmt.Errorf("%w: execution %d of job %s started on member %s already", errClusterChanged, ref.Execution, ref.JobID, s.m.ID())
	}
	return nil, nil
}

// finished reports the end of this member's execution to the coordinator.
func (s *service) finished(ex *execution, err error) {
	s.mu.Lock()
	if s.execs[ex.plan.JobID] == ex {
		delete(s.execs, ex.plan.JobID)
	}
	s.mu.Unlock()
	msg := finishedMsg{JobID: ex.plan.JobID, Execution: ex.plan.Execution, Member: ex.me}
	if err != nil {
		msg.Error, msg.Transient = err.Error(), transient(err)
	}
	b, merr := wire.Marshal(&msg)
	if merr != nil {
		return
	}
	s.m.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := s.callCoordinator(ctx, routeFinished, b); err != nil && !errors.Is(err, member.ErrClosed) {
			s.log.Warn("could not report the end of a job execution to the coordinator", "job", ex.plan.JobID, "err", err)
		}
	})
}

func (s *service) handleAbort(ctx context.Context, req *member.Request) ([]byte, error) {
	var ref jobRef
	if err := wire.Unmarshal(req.Payload, &ref); err != nil {
		return nil, err
	}
	if ex, ok := s.execution(ref); ok {
		reason := errors.New(ref.Reason)
		switch {
		case ref.Cancelled:
			reason = ErrCancelled
		case ref.Transient:
			reason = fmt.Errorf("%w: %s", errClusterChanged, ref.Reason)
		}
		ex.abort(reason)
		s.mu.Lock()
		started := ex.started.Load()
		if s.execs[ref.JobID] == ex && !started {
			// Never started: nothing will report its end.
			delete(s.execs, ref.JobID)
		}
		s.mu.Unlock()
		if !started {
			ex.closeProcessors()
		} else if ref.Wait {
			select {
			case <-ex.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("execution of job %s did not stop: %w", ref.JobID, ctx.Err())
			}
		}
	}
	return nil, nil
}

// handleEdge receives the stream of a distributed edge and hands it to the
// execution's receiver, staying open until the receiver has read it all.
func (s *service) handleEdge(ctx context.Context, st *member.Stream) {
	var h edgeHello
	if err := wire.Unmarshal(st.Hello(), &h); err != nil {
		_ = st.CloseWithError(err)
		return
	}
	ex, ok := s.execution(jobRef{JobID: h.JobID, Execution: h.Execution})
	if !ok {
		_ = st.CloseWithError(noExecution(h.JobID, h.Execution, s.m.ID()))
		return
	}
	r, ok := ex.receivers[recvKey{edge: h.Edge, from: h.From}]
	if !ok {
		_ = st.CloseWithError(fmt.Errorf("job %s has no receiver for edge %d from member %d", h.JobID, h.Edge, h.From))
		return
	}
	select {
	case r.stream <- st:
	default:
		_ = st.CloseWithError(fmt.Errorf("job %s: edge %d from member %d opened twice", h.JobID, h.Edge, h.From))
		return
	}
	select {
	case <-r.finished:
	case <-ex.ctx.Done():
		_ = st.CloseWithError(context.Cause(ex.ctx))
	case <-ctx.Done():
	}
}
