package dag

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// Routes of the snapshot protocol.
const (
	routeSnapBegin  = "job.snapshot.begin"  // coordinator -> members: inject barrier id at the sources
	routeSnapAck    = "job.snapshot.ack"    // member -> coordinator: a processor saved its state
	routeSnapCommit = "job.snapshot.commit" // coordinator -> members: snapshot id is complete
	routeSnapReady  = "job.snapshot.ready"  // coordinator -> members: are the higher-priority inputs read?
)

type roundMsg struct {
	JobID     string `msgpack:"j"`
	Execution uint64 `msgpack:"e"`
	ID        uint64 `msgpack:"i"`
	Slot      int    `msgpack:"s"`
	// Terminal: the execution stops at this snapshot (see round.terminal);
	// on a commit, the member answers once its processors committed.
	Terminal bool `msgpack:"t,omitempty"`
}

// DefaultSnapshotInterval is how often a job with a processing guarantee
// takes a snapshot unless its configuration says otherwise.
const DefaultSnapshotInterval = 10 * time.Second

// participants lists every processor instance of the plan: each must
// acknowledge a snapshot for it to complete.
func participants(p *plan, d *DAG) []snapshot.ProcessorID {
	var ids []snapshot.ProcessorID
	for _, v := range d.vertices {
		total := p.parallelism(v) * len(p.Members)
		for gi := range total {
			ids = append(ids, snapshot.ProcessorID{Vertex: v.name, Index: gi})
		}
	}
	return ids
}

// snapshotLoop takes a snapshot every interval while the job runs, if its
// guarantee asks for snapshots, for as long as this member coordinates the
// job: it returns once the job ends or this member stops coordinating it
// (cj.ctx), and skips the ticks while the job is not running. So it starts
// whatever the job's status when coordinating it begins. It used to start
// only if the job ran when the restart that began coordinating it (a
// takeover, a first launch that failed) returned; but that restart returns
// as soon as another one (a member left meanwhile) replaced its execution,
// with the job still restarting, and the job then ran on without a
// snapshot, its record forever naming the last one before; likewise a job
// taken over while suspended, once resumed.
func (cj *coordJob) snapshotLoop(ctx context.Context) {
	if cj.currentPlan().Config.Guarantee == None {
		return
	}
	every := snapshotEvery(cj.currentPlan().Config)
	t := cj.s.clock().NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cj.ctx.Done():
			return
		case <-t.Chan():
		}
		// select picks at random among ready cases: a tick ready with the
		// end of coordinating must not start a snapshot.
		if ctx.Err() != nil || cj.ctx.Err() != nil {
			return
		}
		if !cj.s.m.IsCoordinator() {
			// Acknowledgements go to the cluster's coordinator: it takes
			// the job over (a change of coordinator seen late).
			cj.handOver("another member is the coordinator")
			cj.s.adoptLater()
			return
		}
		if cj.status() != Running {
			continue
		}
		_, err := cj.snapshot(ctx)
		switch {
		case errors.Is(err, errPostponed):
			cj.mu.Lock()
			cj.rec.Info.SnapshotsPostponed++
			cj.mu.Unlock()
			cj.persist(ctx)
			cj.s.log.Debug("snapshot postponed", "job", cj.currentPlan().JobID, "err", err)
		case err != nil && !errors.Is(err, errNotRunning):
			cj.s.log.Warn("snapshot failed; the last complete one stands", "job", cj.currentPlan().JobID, "err", err)
		}
	}
}

var errNotRunning = errors.New("the job is not running")

// errUnacknowledged: some processors did not acknowledge a snapshot in
// time (under load, the barriers wait behind the items queued ahead of
// them). The snapshot is abandoned; the job runs on.
var errUnacknowledged = errors.New("processors did not acknowledge the snapshot")

// errPostponed: snapshots wait until every processor has read its
// higher-priority inputs. A barrier on a build side would block it until
// the stream side delivers the barrier too, and the stream side is not read
// before the build side completes: with exactly-once the job would stall.
// Hazelcast Jet postpones snapshots the same way.
var errPostponed = errors.New("snapshot postponed: the job's higher-priority inputs (hash-join build sides) are still being read")

// hasPriorities reports whether a vertex of d reads some inputs before
// others.
func hasPriorities(d *DAG) bool {
	first := map[*Vertex]int{}
	for _, e := range d.edges {
		if p, ok := first[e.to]; !ok {
			first[e.to] = e.priority
		} else if p != e.priority {
			return true
		}
	}
	return false
}

// priorityInputsRead asks every member whether its processors have read
// all their higher-priority inputs. Once they all have, they stay so for
// the execution. The caller holds opMu.
func (cj *coordJob) priorityInputsRead(ctx context.Context, p *plan) (bool, error) {
	if cj.inputsReady == p.Execution || !hasPriorities(cj.d) {
		return true, nil
	}
	b, _ := wire.Marshal(&roundMsg{JobID: p.JobID, Execution: p.Execution})
	resps, err := cj.callAll(ctx, p, routeSnapReady, b, 10*time.Second)
	if err != nil {
		return false, err
	}
	for _, resp := range resps {
		var read bool
		if err := wire.Unmarshal(resp, &read); err != nil {
			return false, err
		}
		if !read {
			return false, nil
		}
	}
	cj.inputsReady = p.Execution
	return true, nil
}

// snapshot takes one snapshot of the running execution.
func (cj *coordJob) snapshot(ctx context.Context) (snapshot.Completed, error) {
	cj.opMu.Lock()
	defer cj.opMu.Unlock()
	return cj.snapshotLocked(ctx, false)
}

// interruptSnapshot stops the snapshot in progress, if any and not yet
// committed, with cause.
func (cj *coordJob) interruptSnapshot(cause error) {
	if stop := cj.interrupt.Load(); stop != nil {
		(*stop)(cause)
	}
}

// snapshotLocked takes one snapshot; a terminal one stops the execution's
// processing at its barriers (see round.terminal). The caller holds opMu.
func (cj *coordJob) snapshotLocked(ctx context.Context, terminal bool) (snapshot.Completed, error) {
	// A cancel does not wait for the snapshot in progress (up to its
	// timeout, when processors do not acknowledge): it interrupts it,
	// until the snapshot is committed. What follows the commit (recording
	// it, telling the members, whose two-phase-commit sinks then commit)
	// runs on the caller's context: a snapshot recorded as complete whose
	// commit never reached the sinks would lose their output.
	wctx, interrupt := context.WithCancelCause(ctx)
	defer interrupt(nil)
	cj.interrupt.Store(&interrupt)
	defer cj.interrupt.Store(nil)
	if st := cj.status(); st != Running {
		return snapshot.Completed{}, fmt.Errorf("%w (%s)", errNotRunning, st)
	}
	// A coordinator that handed the job over (or lost it) must not begin a
	// snapshot: Begin numbers it from this coordinator's view, and clearing
	// its slot would delete a snapshot the job's new coordinator took
	// meanwhile, the one its record names. A cut-off coordinator did so
	// once its network healed, and the job failed to restore.
	if cj.ctx.Err() != nil {
		return snapshot.Completed{}, fmt.Errorf("%w: %w", errNotRunning, errFenced)
	}
	if err := cj.settleLocked(ctx); err != nil {
		return snapshot.Completed{}, err
	}
	p := cj.currentPlan()
	if ok, err := cj.priorityInputsRead(wctx, p); err != nil {
		return snapshot.Completed{}, fmt.Errorf("snapshot: %w", err)
	} else if !ok {
		return snapshot.Completed{}, errPostponed
	}
	cj.mu.Lock()
	last, _ := cj.life.Last()
	id, slot, err := cj.life.Begin(participants(p, cj.d))
	cj.mu.Unlock()
	if err != nil {
		return snapshot.Completed{}, err
	}
	abort := func(err error) (snapshot.Completed, error) {
		cj.mu.Lock()
		cj.life.Abort(id, err)
		cj.mu.Unlock()
		return snapshot.Completed{}, fmt.Errorf("snapshot %d: %w", id, err)
	}
	start := cj.s.clock().Now()
	// The slot held the snapshot before the last one, and whatever aborted
	// attempts left there: clear it before writing, unless this member
	// stopped coordinating the job meanwhile.
	if cj.ctx.Err() != nil {
		return abort(errFenced)
	}
	if err := cj.store.ClearSlot(wctx, slot, last.Manifest); err != nil {
		return abort(err)
	}
	b, _ := wire.Marshal(&roundMsg{JobID: p.JobID, Execution: p.Execution, ID: id, Slot: slot, Terminal: terminal})
	if err := cj.broadcast(wctx, p, routeSnapBegin, b); err != nil {
		return abort(err)
	}
	// Logged once every member has the barrier, for tests to wait on.
	cj.s.log.Debug("snapshot started", "job", p.JobID, "snapshot", id, "execution", p.Execution)
	timeout := snapshotTimeout(p.Config)
	deadline := cj.s.clock().NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := cj.acked.Wait()
		cj.mu.Lock()
		missing := cj.life.Missing()
		cj.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		select {
		case <-changed:
		case <-deadline.Chan():
			return abort(fmt.Errorf("%w: %d processors within %v (first: %s)", errUnacknowledged, len(missing), timeout, missing[0]))
		case <-cj.ctx.Done():
			return abort(errNotRunning)
		case <-wctx.Done():
			return abort(context.Cause(wctx))
		}
	}
	cj.mu.Lock()
	err = cj.life.Verify(id, func(refs []snapshot.ChunkRef) (int, error) { return cj.store.Stored(wctx, refs) })
	var c snapshot.Completed
	if err == nil {
		c, err = cj.life.Commit(id)
	}
	if err == nil {
		cj.rec.Snapshot = c
		cj.rec.Info.Snapshots++
		cj.rec.Info.LastSnapshot = c.ID
		cj.rec.Info.LastSnapshotTook = cj.s.clock().Since(start)
	}
	cj.mu.Unlock()
	if err != nil {
		return abort(err)
	}
	cj.unsettled, cj.unsettledTerminal = id, terminal
	if err := cj.settleLocked(ctx); err != nil {
		return snapshot.Completed{}, err
	}
	took := cj.s.clock().Since(start)
	cj.lastSnap.Store(&SnapshotStats{ID: c.ID, Duration: took, Bytes: c.Manifest.Bytes, Entries: c.Manifest.Entries, At: cj.s.clock().Now()})
	cj.s.log.Debug("snapshot complete", "job", p.JobID, "snapshot", id, "entries", c.Manifest.Entries, "bytes", c.Manifest.Bytes, "took", cj.s.clock().Since(start))
	return c, nil
}

// settleLocked writes the snapshot last completed into the job record,
// then tells the members it is complete, whereupon the two-phase-commit
// sinks commit its output. The order matters: a coordinator that takes the
// job over restores the snapshot its record names and replays everything
// after it, so output committed for a snapshot the record does not name
// would be written twice. A failed record write leaves the snapshot
// unsettled, and whether the record names it unknown (the write may have
// landed unacknowledged): no snapshot begins until it is settled, because
// the next one clears the slot of the one before, which the record may
// still name. The caller holds opMu.
func (cj *coordJob) settleLocked(ctx context.Context) error {
	id := cj.unsettled
	if id == 0 {
		return nil
	}
	if err := cj.persist(ctx); err != nil {
		return fmt.Errorf("snapshot %d is complete but not recorded, so its output is not committed yet: %w", id, err)
	}
	cj.unsettled = 0
	p := cj.currentPlan()
	b, _ := wire.Marshal(&roundMsg{JobID: p.JobID, Execution: p.Execution, ID: id, Terminal: cj.unsettledTerminal})
	if err := cj.broadcast(ctx, p, routeSnapCommit, b); err != nil {
		// The snapshot is complete; a member that missed the commit commits
		// when it restores from it.
		cj.s.log.Warn("snapshot complete but not every member was told", "job", p.JobID, "snapshot", id, "err", err)
	}
	return nil
}

func (s *service) handleSnapAck(_ context.Context, req *member.Request) ([]byte, error) {
	var msg ackMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	cj, ok := s.coordJob(msg.JobID)
	if !ok {
		return nil, nil
	}
	cj.mu.Lock()
	var err error
	if cj.plan.Execution == msg.Execution {
		_, err = cj.life.Ack(msg.ID, msg.Processor, msg.Chunks, msg.Entries)
	}
	cj.mu.Unlock()
	cj.acked.Broadcast()
	if err != nil {
		s.log.Debug("snapshot acknowledgement refused", "job", msg.JobID, "snapshot", msg.ID, "processor", msg.Processor.String(), "err", err)
	}
	return nil, nil
}

// roundExecution decodes a snapshot round message and finds the execution
// it is for on this member.
func (s *service) roundExecution(req *member.Request) (*execution, roundMsg, error) {
	var msg roundMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, msg, err
	}
	ex, ok := s.execution(jobRef{JobID: msg.JobID, Execution: msg.Execution})
	if !ok {
		return nil, msg, noExecution(msg.JobID, msg.Execution, s.m.ID())
	}
	return ex, msg, nil
}

func (s *service) handleSnapBegin(_ context.Context, req *member.Request) ([]byte, error) {
	ex, msg, err := s.roundExecution(req)
	if err != nil {
		return nil, err
	}
	ex.beginRound(round{id: msg.ID, slot: msg.Slot, terminal: msg.Terminal})
	return nil, nil
}

// handleSnapReady answers whether the execution's processors have read
// all their higher-priority inputs.
func (s *service) handleSnapReady(_ context.Context, req *member.Request) ([]byte, error) {
	ex, _, err := s.roundExecution(req)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(ex.prioritized.Load() == 0)
}

func (s *service) handleSnapCommit(ctx context.Context, req *member.Request) ([]byte, error) {
	var msg roundMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	if ex, ok := s.execution(jobRef{JobID: msg.JobID, Execution: msg.Execution}); ok {
		ex.commitRound(msg.ID)
		if msg.Terminal {
			return nil, ex.waitCommitted(ctx, msg.ID)
		}
	}
	return nil, nil
}
