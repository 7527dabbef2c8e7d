package dag

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// DefaultScaleUpDelay is how long a running job waits after a member joins
// before restarting on the larger cluster.
const DefaultScaleUpDelay = 10 * time.Second

// restart stops the job's execution everywhere and starts a new one on the
// current data members, from the last complete snapshot (or from the
// beginning without one). It restarts execution from only, and does nothing
// once another has replaced it; from anyExecution restarts whichever runs.
//
// One fault is reported many times over: each member running the
// execution reports that it lost a peer, and the failure detector reports
// the peer gone. Each report restarts from the execution it saw fail, so
// that the first one restarts the job and the others find it restarted,
// also when they wait for opMu while the first one restarts.
//
// Nor does it restart a suspended job from any execution but anyExecution:
// suspending stopped its executions, and Resume starts it on the members
// of then. Suspending sets the plan of its new execution (which never
// runs) before the status says Suspended, so watchMembers, seeing a member
// gone in between (a failure detector that flapped under load), restarted
// from that execution, and the job ran on, suspended as far as the caller
// of Suspend knew.
func (cj *coordJob) restart(ctx context.Context, reason string, from uint64) error {
	replaced := func() bool {
		return from != anyExecution && (cj.currentPlan().Execution != from || cj.status() == Suspended)
	}
	if replaced() {
		return nil
	}
	// The execution is going: a snapshot of it still in progress would
	// only hold the restart up, for as long as its timeout when a lost
	// member's processors cannot acknowledge.
	cj.interruptSnapshot(fmt.Errorf("the job restarts: %s", reason))
	cj.opMu.Lock()
	defer cj.opMu.Unlock()
	if replaced() {
		return nil
	}
	return cj.restartLocked(ctx, reason, Running)
}

// anyExecution, as restart's from, restarts whichever execution runs.
const anyExecution = 0

// restartUntilRunning restarts the job, again after a pause while the
// cluster keeps changing under it (a member that crashed is still listed
// until its failure is detected), unless an execution other than from has
// started meanwhile.
func (cj *coordJob) restartUntilRunning(ctx context.Context, reason string, from uint64) {
	backoff := nextRestartBackoff(0)
	for attempt := 0; ; attempt++ {
		if cj.currentPlan().Execution != from {
			return // someone restarted it already (and retries if they must)
		}
		err := cj.restart(ctx, reason, from)
		if err == nil || cj.status().Terminal() || !transient(err) && !errors.Is(err, errTransientLaunch) && !errors.Is(err, errUnrecorded) {
			if err != nil && !errors.Is(err, member.ErrNoQuorum) {
				cj.s.log.Warn("job restart failed", "job", cj.rec.Info.ID, "err", err)
			}
			return
		}
		from = cj.currentPlan().Execution
		if !cj.wait(ctx, backoff) {
			return
		}
		backoff = nextRestartBackoff(backoff)
	}
}

// wait waits d on the job's clock; false if ctx or the job ended first.
func (cj *coordJob) wait(ctx context.Context, d time.Duration) bool {
	t := cj.s.clock().NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	case <-cj.ctx.Done():
		return false
	}
}

// resumeRestart restarts a job left restarting (its restart waited for the
// quorum), unless it runs again by the time the restart in progress, if
// any, is done: a restart is Restarting until its execution is set up, and
// a change of members seen meanwhile must not restart the job once more.
func (cj *coordJob) resumeRestart(ctx context.Context, from uint64) {
	cj.opMu.Lock()
	left := cj.status() == Restarting && cj.currentPlan().Execution == from
	cj.opMu.Unlock()
	if left {
		cj.restartUntilRunning(ctx, "resuming a restart that waited for the quorum", from)
		return
	}
	// The restart that was in progress may have set its execution up on
	// the members of before this change: a member that joined meanwhile is
	// taken in as any joining member is.
	cj.scheduleScaleUp()
}

// lastSnapshot is the job's last complete snapshot.
func (cj *coordJob) lastSnapshot() (snapshot.Completed, bool) {
	cj.mu.Lock()
	defer cj.mu.Unlock()
	return cj.life.Last()
}

// errUnrecorded: the last snapshot could not be written into the job
// record yet; a restart restores from it only once it is.
var errUnrecorded = errors.New("dag: the last snapshot is not in the job record yet")

// errTransientLaunch: setting up an execution failed because a member is
// unreachable; restarting once the membership settles will do.
var errTransientLaunch = errors.New("dag: a member was unreachable while the job was set up")

func (cj *coordJob) restartLocked(ctx context.Context, reason string, then JobStatus) error {
	if st := cj.status(); st.Terminal() {
		return fmt.Errorf("job %s has ended (%s)", cj.rec.Info.ID, st)
	}
	if st := cj.status(); st == Completing {
		// Part of a bounded job finished: a snapshot no longer holds its
		// whole state, so it cannot be restarted.
		err := fmt.Errorf("%w while completing: %s", ErrMemberLost, reason)
		cj.fail(ctx, err, false)
		return err
	}
	old := cj.currentPlan()
	if !cj.setStatus(ctx, Restarting, "") {
		// Another member coordinates the job now, or (a takeover from a
		// record read before the job ended) nobody does: its executions
		// are not this coordinator's to stop.
		return fmt.Errorf("%w: job %s", errFenced, old.JobID)
	}
	cj.abortAll(ctx, old, errors.New("restarting: "+reason), false)
	if !cj.s.m.HasQuorum() {
		// The other side of a split may take the job over meanwhile, and
		// its record move on: the coordinator with a quorum takes it over
		// again from its record, this member too once healed.
		cj.s.log.Warn("job waits for the quorum to restart", "job", old.JobID, "reason", reason)
		cj.handOver("lost the quorum")
		return member.ErrNoQuorum
	}
	if id := cj.unsettled; id != 0 {
		// Restoring a snapshot commits its output: the record must name it
		// first (see settleLocked).
		if err := cj.persist(ctx); err != nil {
			return fmt.Errorf("%w: restart from snapshot %d: %w", errUnrecorded, id, err)
		}
		cj.unsettled = 0
	}
	p, err := cj.s.nextPlan(old)
	if err != nil {
		cj.fail(ctx, err, false)
		return err
	}
	var origin *snapshot.Completed
	if _, ok := cj.lastSnapshot(); !ok && old.Config.FromSnapshot != "" {
		// No snapshot of its own yet: it starts from the export again.
		_, c, err := snapshot.OpenNamed(ctx, cj.s.m, old.Config.FromSnapshot)
		if err != nil {
			err = fmt.Errorf("restart from snapshot %q: %w", old.Config.FromSnapshot, err)
			cj.fail(ctx, err, false)
			return err
		}
		origin = &c
	}
	cj.mu.Lock()
	cj.rec.Info.RestoredFrom = 0
	if last, ok := cj.life.Last(); ok {
		p.Restore = &last
		cj.rec.Info.RestoredFrom = last.ID
	} else if origin != nil {
		p.Restore = origin
		cj.rec.Info.RestoredFrom = origin.ID
	}
	if id, _, inProgress := cj.life.InProgress(); inProgress {
		cj.life.Abort(id, errors.New("restart"))
	}
	cj.plan = p
	cj.resetPending()
	cj.rec.Plan, _ = wire.Marshal(p)
	cj.rec.Info.Members = p.Members
	cj.rec.Info.Restarts++
	cj.rec.Info.Execution = p.Execution
	cj.mu.Unlock()
	// Claim the execution number in the record before any member hears of
	// it: numbers never repeat, even with two members coordinating for a
	// moment (see fence.go).
	if err := cj.persist(ctx); err != nil {
		if errors.Is(err, errFenced) {
			return err
		}
		return fmt.Errorf("%w: claim execution %d: %w", errUnrecorded, p.Execution, err)
	}
	cj.s.log.Info("restarting job", "job", p.JobID, "reason", reason, "execution", p.Execution, "members", len(p.Members))
	if then == Suspended {
		cj.setStatus(ctx, Suspended, "")
		return nil
	}
	return cj.launchLocked(ctx)
}

// nextPlan is the plan of the next execution of a job: the same job on the
// current data members.
func (s *service) nextPlan(old *plan) (*plan, error) {
	p := *old
	ids := s.dataMembers()
	if len(ids) == 0 {
		return nil, errors.New("no data member to run the job on")
	}
	p.Members = ids
	p.Execution = old.Execution + 1
	p.Restore = nil
	p.Owners = s.owners(ids)
	if p.Config.LocalParallelism <= 0 {
		p.Parallelism = runtime.GOMAXPROCS(0)
	}
	return &p, nil
}

func (s *service) dataMembers() []string {
	var ids []string
	for _, i := range s.m.Members() {
		if !i.Lite && !i.Leaving {
			ids = append(ids, i.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// owners maps partitions to member indexes as the current table does.
func (s *service) owners(ids []string) []int {
	owners := make([]int, s.m.PartitionCount())
	t := s.m.Partitions()
	for part := range owners {
		owner := -1
		if t != nil {
			owner = slices.Index(ids, t.Owner(part))
		}
		if owner < 0 {
			owner = part % len(ids)
		}
		owners[part] = owner
	}
	return owners
}

// watchMembers keeps jobs on the members that can run them: on the
// coordinator, it restarts jobs a departed member was running, moves jobs
// onto members that joined (after the scale-up delay), and takes over the
// jobs of a coordinator that left; on every member, it stops executions
// when the member's side of the cluster lost its quorum.
func (s *service) watchMembers(ctx context.Context) {
	select {
	case <-s.m.Ready(): // before, the member sees only itself
	case <-ctx.Done():
		return
	}
	var last []member.Info
	for {
		ms, err := s.m.WaitMembers(ctx, func(ms []member.Info) bool { return !sameMembers(ms, last) })
		if err != nil {
			return
		}
		last = ms
		if !s.m.HasQuorum() {
			s.abortAll(fmt.Errorf("%w: stopping on the side of a network partition without quorum", member.ErrNoQuorum))
			// Its records may change on the other side: it takes its jobs
			// over again from them, if it is the coordinator once healed.
			s.dropCoordinated("lost the quorum")
			continue
		}
		if !s.m.IsCoordinator() {
			s.dropCoordinated("another member is the coordinator")
			continue
		}
		live := map[string]bool{}
		for _, i := range ms {
			live[i.ID] = true
		}
		data := s.dataMembers()
		s.mu.Lock()
		jobs := make([]*coordJob, 0, len(s.coord))
		for _, cj := range s.coord {
			jobs = append(jobs, cj)
		}
		s.mu.Unlock()
		for _, cj := range jobs {
			p := cj.currentPlan()
			switch {
			case cj.status() == Suspended:
			case slices.ContainsFunc(p.Members, func(id string) bool { return !live[id] }):
				reason := ""
				for _, id := range p.Members {
					if !live[id] {
						reason = "member " + id + " left"
						break
					}
				}
				s.m.Go(func(ctx context.Context) { cj.restartUntilRunning(ctx, reason, p.Execution) })
			case cj.status() == Restarting:
				s.m.Go(func(ctx context.Context) { cj.resumeRestart(ctx, p.Execution) })
			case !slices.Equal(p.Members, data):
				cj.scheduleScaleUp()
			}
		}
		s.adoptLater()
	}
}

// adoptEvery looks for uncoordinated jobs now and then, on the
// coordinator: a safety net for a change of coordinator that watchMembers
// saw before the member knew it was the coordinator.
func (s *service) adoptEvery(ctx context.Context) {
	t := s.clock().NewTicker(adoptInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		if s.m.IsCoordinator() && s.m.HasQuorum() {
			s.adoptLater()
		}
	}
}

const adoptInterval = 2 * time.Second

// adoptLater takes over the uncoordinated jobs (adoptOrphans) off the
// caller's goroutine: reading the records can take as long as the grid's
// timeout when their owners are unreachable (a split not detected yet),
// and watchMembers must meanwhile see the quorum lost. One scan at a time;
// a request during a scan makes another after it.
func (s *service) adoptLater() {
	if s.adoptWanted.Swap(true) {
		return // a scan is due already
	}
	s.m.Go(func(ctx context.Context) {
		s.adoptMu.Lock()
		defer s.adoptMu.Unlock()
		if !s.adoptWanted.Swap(false) {
			return
		}
		if s.m.IsCoordinator() && s.m.HasQuorum() {
			s.adoptOrphans(ctx)
		}
	})
}

// scheduleScaleUp restarts the job on the current members after the
// scale-up delay, unless that happened meanwhile.
func (cj *coordJob) scheduleScaleUp() {
	cj.mu.Lock()
	delay, ok := scaleUpDelay(cj.plan.Config)
	if cj.scaleUp || !ok {
		cj.mu.Unlock()
		return
	}
	cj.scaleUp = true
	cj.mu.Unlock()
	cj.s.m.Go(func(ctx context.Context) {
		defer func() {
			cj.mu.Lock()
			cj.scaleUp = false
			cj.mu.Unlock()
		}()
		for {
			if !cj.wait(ctx, delay) {
				return
			}
			p := cj.currentPlan()
			if slices.Equal(p.Members, cj.s.dataMembers()) {
				return
			}
			switch cj.status() {
			case Running:
				// Until it runs: a member that cannot be reached while the
				// execution is set up (one that joined and awaits the
				// coordinator's partition table) leaves the job restarting,
				// and nothing else tries again unless the members change.
				cj.restartUntilRunning(ctx, "members changed: scaling to the current members", p.Execution)
				return
			case Restarting:
				// A restart is setting up its execution, perhaps on the
				// members of before this change: look again once it is done
				// (not sooner than every 100 ms, whatever the delay).
				delay = max(delay, 100*time.Millisecond)
				continue
			default:
				return
			}
		}
	})
}

// adoptOrphans takes over, on the cluster's coordinator, the jobs no
// member coordinates here: those whose coordinator left, or handed them
// over (it is no longer the coordinator, or lost the quorum), or lost them
// to a takeover. They restart from the last snapshot their record names.
func (s *service) adoptOrphans(ctx context.Context) {
	var orphans []jobRecord
	_ = s.jobs.Scan(ctx, func(_ string, rec jobRecord) bool {
		if _, ok := s.coordJob(rec.Info.ID); !ok && !rec.Info.Status.Terminal() {
			orphans = append(orphans, rec)
		}
		return true
	})
	for _, rec := range orphans {
		s.adopt(rec)
	}
}

// adopt takes the job over from rec, its record as a scan read it, unless
// it is coordinated here. The record may have changed since the scan read
// it (the job may even have ended): the takeover's first write, expecting
// rec, is then refused (see fence.go) and the takeover ends.
func (s *service) adopt(rec jobRecord) {
	var p plan
	if err := wire.Unmarshal(rec.Plan, &p); err != nil {
		return
	}
	d, err := buildJob(p.Name, p.Params)
	if err != nil {
		s.log.Error("cannot take over job: it does not build here", "job", rec.Info.ID, "err", err)
		return
	}
	prev := rec.Info.Coordinator
	cj := newCoordJob(s, rec, &p, d) // expects the record as read
	cj.rec.Info.Coordinator = s.m.ID()
	s.mu.Lock()
	if _, ok := s.coord[rec.Info.ID]; ok || s.closed {
		s.mu.Unlock()
		return
	}
	s.coord[rec.Info.ID] = cj
	s.mu.Unlock()
	s.log.Info("taking over a job whose coordinator left", "job", rec.Info.ID, "previous", prev)
	s.m.Go(func(ctx context.Context) {
		if rec.Info.Status == Suspended {
			cj.persist(ctx)
		} else {
			cj.restartUntilRunning(ctx, "coordinator "+prev+" left", p.Execution)
		}
		cj.snapshotLoop(ctx)
	})
}

// abortAll stops every execution on this member.
func (s *service) abortAll(cause error) {
	s.mu.Lock()
	execs := make([]*execution, 0, len(s.execs))
	for _, ex := range s.execs {
		execs = append(execs, ex)
	}
	s.mu.Unlock()
	for _, ex := range execs {
		ex.abort(cause)
	}
}
