package dag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// coordJob is a job as its coordinator tracks it: its record, the plan of
// its current execution, and its snapshots.
type coordJob struct {
	s       *service
	d       *DAG
	id      string
	writeMu sync.Mutex // serializes writes of rec to the jobs map
	// fence is the record as this coordinator last wrote it: a write
	// expects it (see fence.go); guarded by writeMu.
	fence fence
	// tried are the fences of the writes since the last acknowledged one:
	// they failed, and may have landed unacknowledged; ended: the record
	// holds the job's end, written here. Both guarded by writeMu.
	tried []fence
	ended bool
	// lostOnce: the job was taken over (lose) or handed over.
	lostOnce sync.Once
	// opMu serializes what changes the execution: launching, snapshots,
	// restarts, suspending.
	opMu sync.Mutex

	mu      sync.Mutex // guards rec, plan, pending and life
	rec     jobRecord
	plan    *plan
	pending map[int]bool // member indexes whose execution has not finished
	life    *snapshot.Lifecycle
	store   *snapshot.Store
	acked   run.Signal // an acknowledgement arrived

	ctx    context.Context // ends with the job, on the coordinator
	cancel context.CancelFunc
	// scaleUp is set while a restart onto new members is scheduled.
	scaleUp bool
	// inputsReady is the execution whose members reported every
	// higher-priority input read (see priorityInputsRead); guarded by opMu.
	inputsReady uint64
	// interrupt stops the snapshot in progress, if any (interruptSnapshot).
	interrupt atomic.Pointer[context.CancelCauseFunc]
	// unsettled is a snapshot completed but not yet known to be in the job
	// record, whose commit has therefore not been sent (0: none); guarded
	// by opMu. See settleLocked.
	unsettled uint64
	// lastSnap describes the last snapshot this coordinator completed, for
	// metrics.
	lastSnap atomic.Pointer[SnapshotStats]
	// unsettledTerminal: the unsettled snapshot is terminal, so its commit
	// waits for the processors to commit; guarded by opMu.
	unsettledTerminal bool
}

func newCoordJob(s *service, rec jobRecord, p *plan, d *DAG) *coordJob {
	cj := &coordJob{s: s, d: d, id: rec.Info.ID, fence: fenceOf(rec), rec: rec, plan: p, life: snapshot.NewLifecycle(rec.Snapshot), store: snapshot.OpenStore(s.m, p.JobID)}
	cj.ctx, cj.cancel = context.WithCancel(context.Background())
	cj.resetPending()
	return cj
}

func (cj *coordJob) resetPending() {
	cj.pending = map[int]bool{}
	for i := range cj.plan.Members {
		cj.pending[i] = true
	}
}

func (cj *coordJob) currentPlan() *plan {
	cj.mu.Lock()
	defer cj.mu.Unlock()
	return cj.plan
}

func (cj *coordJob) status() JobStatus {
	cj.mu.Lock()
	defer cj.mu.Unlock()
	return cj.rec.Info.Status
}

// run launches the job, then takes snapshots if its guarantee asks for them.
func (cj *coordJob) run(ctx context.Context) {
	if err := cj.launch(ctx); errors.Is(err, errTransientLaunch) {
		cj.restartUntilRunning(ctx, err.Error(), cj.currentPlan().Execution)
	}
	cj.snapshotLoop(ctx)
}

// launch sets the current plan up on every member and starts it.
func (cj *coordJob) launch(ctx context.Context) error {
	cj.opMu.Lock()
	defer cj.opMu.Unlock()
	return cj.launchLocked(ctx)
}

// launchLocked sets the current plan up and starts it. A member that cannot
// be reached returns errTransientLaunch, the job still restarting; any other
// failure fails the job.
func (cj *coordJob) launchLocked(ctx context.Context) error {
	p := cj.currentPlan()
	planBytes, err := wire.Marshal(p)
	if err != nil {
		cj.fail(ctx, err, false)
		return err
	}
	step := func(what, route string, payload []byte) error {
		err := cj.broadcast(ctx, p, route, payload)
		if err == nil {
			return nil
		}
		if transient(err) {
			cj.abortAll(ctx, p, err, false)
			cj.setStatus(ctx, Restarting, "")
			return fmt.Errorf("%w: %s: %v", errTransientLaunch, what, err)
		}
		err = fmt.Errorf("%s: %w", what, err)
		cj.fail(ctx, err, false)
		return err
	}
	if err := step("setting up", routeInit, planBytes); err != nil {
		return err
	}
	if !cj.setStatus(ctx, Running, "") {
		cj.abortAll(ctx, p, errors.New("the job ended while it was set up"), false)
		return errors.New("the job ended while it was set up")
	}
	ref, _ := wire.Marshal(&jobRef{JobID: p.JobID, Execution: p.Execution})
	if err := step("starting", routeStart, ref); err != nil {
		return err
	}
	restored := uint64(0)
	if p.Restore != nil {
		restored = p.Restore.ID
	}
	cj.s.log.Info("job started", "job", p.JobID, "name", p.Name, "execution", p.Execution, "members", len(p.Members),
		"parallelism", p.Parallelism, "guarantee", p.Config.Guarantee, "restored_snapshot", restored)
	return nil
}

// broadcast calls route on every member of p and joins the errors.
func (cj *coordJob) broadcast(ctx context.Context, p *plan, route string, payload []byte) error {
	_, err := cj.callAll(ctx, p, route, payload, time.Minute)
	return err
}

// callAll calls route on every member of p at once, each call given at
// most timeout, and returns the responses in the order of p.Members with
// the errors joined.
func (cj *coordJob) callAll(ctx context.Context, p *plan, route string, payload []byte, timeout time.Duration) ([][]byte, error) {
	resps := make([][]byte, len(p.Members))
	errs := make([]error, len(p.Members))
	var wg sync.WaitGroup
	for i, id := range p.Members {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			resps[i], errs[i] = cj.s.m.Call(cctx, id, route, payload)
		})
	}
	wg.Wait()
	return resps, errors.Join(errs...)
}

// setStatus records a new status unless the job has already ended; it
// reports whether it did.
func (cj *coordJob) setStatus(ctx context.Context, st JobStatus, errText string) bool {
	cj.mu.Lock()
	if cj.rec.Info.Status.Terminal() {
		cj.mu.Unlock()
		return false
	}
	cj.rec.Info.Status = st
	if errText != "" {
		cj.rec.Info.Error = errText
	}
	if st.Terminal() {
		cj.rec.Info.Ended = cj.s.clock().Now()
	}
	id := cj.rec.Info.ID
	cj.mu.Unlock()
	err := cj.persist(ctx)
	if errors.Is(err, errFenced) {
		return false // another member has the job now
	}
	recorded := err == nil
	cj.s.jobsChanged.Broadcast()
	if st.Terminal() {
		cj.cancel()
		if recorded {
			// Unrecorded, it stays here: taken for uncoordinated, it would
			// be taken over and run again.
			cj.s.mu.Lock()
			delete(cj.s.coord, id)
			cj.s.mu.Unlock()
		}
	}
	return true
}

// persist writes the job's latest record. Writes are serialized and each
// writes the state current when it starts, so concurrent status changes
// (two members finishing at once) cannot leave an older status last. Each
// write expects the record as this coordinator last wrote it: if another
// member took the job over meanwhile, the write fails with errFenced and
// this member stops coordinating the job (see fence.go). A record that
// changed by this coordinator's own earlier write, which failed but landed,
// is not a takeover: the write is made again over it. Once the record holds
// the job's end, nothing more is written.
func (cj *coordJob) persist(ctx context.Context) error {
	cj.writeMu.Lock()
	defer cj.writeMu.Unlock()
	if cj.ended {
		return nil
	}
	cj.mu.Lock()
	rec := cj.rec
	cj.mu.Unlock()
	rec.Stamp = newStamp()
	wctx := context.WithoutCancel(ctx)
	err := cj.s.writeFenced(wctx, cj.fence, rec)
	if errors.Is(err, errFenced) && len(cj.tried) > 0 {
		if cur, found, gerr := cj.s.jobs.Get(wctx, cj.id); gerr == nil && found && slices.Contains(cj.tried, fenceOf(cur)) {
			cj.fence = fenceOf(cur) // its own write landed
			if cur.Info.Status.Terminal() {
				cj.ended = true
				return nil
			}
			err = cj.s.writeFenced(wctx, cj.fence, rec)
		}
	}
	switch {
	case err == nil:
		cj.fence, cj.tried = fenceOf(rec), nil
		cj.ended = rec.Info.Status.Terminal()
	case errors.Is(err, errFenced):
		cj.tried = nil
		cj.lose(err)
	default:
		cj.tried = append(cj.tried, fenceOf(rec))
		cj.s.log.Error("could not record job status", "job", rec.Info.ID, "status", rec.Info.Status, "err", err)
	}
	return err
}

// fail ends the job with err and stops it everywhere.
func (cj *coordJob) fail(ctx context.Context, err error, cancelled bool) {
	st := Failed
	if cancelled {
		st = Cancelled
	}
	if !cj.setStatus(ctx, st, err.Error()) {
		return
	}
	p := cj.currentPlan()
	if cancelled {
		cj.s.log.Info("job cancelled", "job", p.JobID)
	} else {
		cj.s.log.Warn("job failed", "job", p.JobID, "name", p.Name, "err", err)
	}
	cj.abortAll(ctx, p, err, cancelled)
	cj.dropSnapshots(ctx)
}

// dropSnapshots deletes an ended job's snapshots (its executions have
// stopped): only exported copies outlive a job.
func (cj *coordJob) dropSnapshots(ctx context.Context) {
	if cj.store == nil {
		return
	}
	if err := cj.store.Drop(context.WithoutCancel(ctx)); err != nil {
		cj.s.log.Warn("could not delete the snapshots of an ended job", "job", cj.rec.Info.ID, "err", err)
	}
}

// abortAll stops p's execution on every member that is still there and
// waits for it to end, so nothing of it runs on once this returns.
func (cj *coordJob) abortAll(ctx context.Context, p *plan, reason error, cancelled bool) {
	ref, _ := wire.Marshal(&jobRef{JobID: p.JobID, Execution: p.Execution, Reason: reason.Error(), Cancelled: cancelled, Wait: true,
		Transient: !cancelled && transient(reason)})
	var live []string
	for _, id := range p.Members {
		if _, ok := cj.s.m.MemberByID(id); ok {
			live = append(live, id)
		}
	}
	q := *p
	q.Members = live
	if err := cj.broadcast(context.WithoutCancel(ctx), &q, routeAbort, ref); err != nil {
		cj.s.log.Warn("could not stop every execution of the job", "job", p.JobID, "err", err)
	}
}

// memberFinished records the end of one member's execution.
func (cj *coordJob) memberFinished(ctx context.Context, mi int, errText string) {
	p := cj.currentPlan()
	if errText != "" {
		cj.fail(ctx, fmt.Errorf("member %s: %s", p.Members[mi], errText), false)
		return
	}
	cj.mu.Lock()
	delete(cj.pending, mi)
	left := len(cj.pending)
	cj.mu.Unlock()
	if left == 0 {
		if cj.setStatus(ctx, Completed, "") {
			cj.s.log.Info("job completed", "job", p.JobID, "name", p.Name)
			cj.dropSnapshots(ctx)
		}
		return
	}
	cj.setStatus(ctx, Completing, "")
}

func (s *service) coordJob(id string) (*coordJob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cj, ok := s.coord[id]
	return cj, ok
}

func (s *service) handleFinished(ctx context.Context, req *member.Request) ([]byte, error) {
	var msg finishedMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	cj, ok := s.coordJob(msg.JobID)
	if !ok {
		return nil, nil // an ended job: nothing to do
	}
	p := cj.currentPlan()
	if p.Execution != msg.Execution {
		return nil, nil // an old run, stopped by a restart
	}
	if msg.Member < 0 || msg.Member >= len(p.Members) {
		return nil, fmt.Errorf("bad member index %d", msg.Member)
	}
	if st := cj.status(); st == Restarting || st == Suspended {
		return nil, nil // stopped on purpose
	}
	if msg.Transient {
		reason := fmt.Sprintf("execution on member %s lost the cluster: %s", p.Members[msg.Member], msg.Error)
		s.m.Go(func(ctx context.Context) { cj.restartUntilRunning(ctx, reason, p.Execution) })
		return nil, nil
	}
	cj.memberFinished(ctx, msg.Member, msg.Error)
	return nil, nil
}

// coordinated returns the job this member coordinates, or an error saying
// why not.
func (s *service) coordinated(ctx context.Context, id string) (*coordJob, error) {
	if cj, ok := s.coordJob(id); ok {
		return cj, nil
	}
	rec, found, err := s.jobs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no job %s", ErrUnknownJob, id)
	}
	if rec.Info.Status.Terminal() {
		return nil, fmt.Errorf("job %s has ended (%s)", id, rec.Info.Status)
	}
	if !s.m.IsCoordinator() {
		return nil, errNotCoordinator
	}
	return nil, fmt.Errorf("job %s is not coordinated by this member yet", id)
}

func (s *service) handleCancel(ctx context.Context, req *member.Request) ([]byte, error) {
	var ref jobRef
	if err := wire.Unmarshal(req.Payload, &ref); err != nil {
		return nil, err
	}
	cj, err := s.coordinated(ctx, ref.JobID)
	if err != nil {
		if rec, found, gerr := s.jobs.Get(ctx, ref.JobID); gerr == nil && found && rec.Info.Status.Terminal() {
			return nil, nil // cancelling an ended job does nothing
		}
		return nil, err
	}
	cj.interruptSnapshot(ErrCancelled)
	cj.opMu.Lock()
	defer cj.opMu.Unlock()
	cj.fail(ctx, ErrCancelled, true)
	return nil, nil
}

func sameMembers(a, b []member.Info) bool {
	return slices.EqualFunc(a, b, func(x, y member.Info) bool { return x.ID == y.ID && x.Leaving == y.Leaving })
}

func sortJobs(js []JobInfo) {
	sort.Slice(js, func(i, j int) bool { return js[i].Submitted.After(js[j].Submitted) })
}
