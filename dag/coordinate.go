package dag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// coordJob is a job as its coordinator tracks it.
type coordJob struct {
	s       *service
	writeMu sync.Mutex // serializes writes of rec to the jobs map
	mu      sync.Mutex // guards rec and pending
	rec     jobRecord
	plan    *plan
	// pending holds the member indexes whose execution has not finished.
	pending map[int]bool
}

// launch sets the job up on every member and starts it.
func (cj *coordJob) launch(ctx context.Context) {
	s, p := cj.s, cj.plan
	planBytes := cj.rec.Plan
	if err := cj.broadcast(ctx, routeInit, planBytes); err != nil {
		cj.fail(ctx, fmt.Errorf("setting up: %w", err), false)
		return
	}
	if !cj.setStatus(ctx, Running, "") {
		return // cancelled meanwhile
	}
	ref, _ := wire.Marshal(&jobRef{JobID: p.JobID, Execution: p.Execution})
	if err := cj.broadcast(ctx, routeStart, ref); err != nil {
		cj.fail(ctx, fmt.Errorf("starting: %w", err), false)
		return
	}
	s.log.Info("job started", "job", p.JobID, "name", p.Name, "members", len(p.Members), "parallelism", p.Parallelism)
}

// broadcast calls route on every member of the plan and joins the errors.
func (cj *coordJob) broadcast(ctx context.Context, route string, payload []byte) error {
	p := cj.plan
	errs := make([]error, len(p.Members))
	var wg sync.WaitGroup
	for i, id := range p.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := cj.s.m.Call(cctx, id, route, payload); err != nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
		cj.rec.Info.Ended = time.Now()
	}
	id := cj.rec.Info.ID
	cj.mu.Unlock()
	cj.persist(ctx)
	cj.s.jobsChanged.broadcast()
	if st.Terminal() {
		cj.s.mu.Lock()
		delete(cj.s.coord, id)
		cj.s.mu.Unlock()
	}
	return true
}

// persist writes the job's latest record. Writes are serialized and each
// writes the state current when it starts, so concurrent status changes
// (two members finishing at once) cannot leave an older status last.
func (cj *coordJob) persist(ctx context.Context) {
	cj.writeMu.Lock()
	defer cj.writeMu.Unlock()
	cj.mu.Lock()
	rec := cj.rec
	cj.mu.Unlock()
	if err := cj.s.jobs.Put(context.WithoutCancel(ctx), rec.Info.ID, rec); err != nil {
		cj.s.log.Error("could not record job status", "job", rec.Info.ID, "status", rec.Info.Status, "err", err)
	}
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
	if cancelled {
		cj.s.log.Info("job cancelled", "job", cj.plan.JobID)
	} else {
		cj.s.log.Warn("job failed", "job", cj.plan.JobID, "name", cj.plan.Name, "err", err)
	}
	ref, _ := wire.Marshal(&jobRef{JobID: cj.plan.JobID, Execution: cj.plan.Execution, Reason: err.Error(), Cancelled: cancelled})
	// Members that left cannot be told; the others stop their execution.
	_ = cj.broadcast(context.WithoutCancel(ctx), routeAbort, ref)
}

// memberFinished records the end of one member's execution.
func (cj *coordJob) memberFinished(ctx context.Context, mi int, errText string) {
	if errText != "" {
		cj.fail(ctx, fmt.Errorf("member %s: %s", cj.plan.Members[mi], errText), false)
		return
	}
	cj.mu.Lock()
	delete(cj.pending, mi)
	left := len(cj.pending)
	cj.mu.Unlock()
	if left == 0 {
		if cj.setStatus(ctx, Completed, "") {
			cj.s.log.Info("job completed", "job", cj.plan.JobID, "name", cj.plan.Name)
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
	if !ok || cj.plan.Execution != msg.Execution {
		return nil, nil // an ended job or an old run: nothing to do
	}
	if msg.Member < 0 || msg.Member >= len(cj.plan.Members) {
		return nil, fmt.Errorf("bad member index %d", msg.Member)
	}
	cj.memberFinished(ctx, msg.Member, msg.Error)
	return nil, nil
}

func (s *service) handleCancel(ctx context.Context, req *member.Request) ([]byte, error) {
	var ref jobRef
	if err := wire.Unmarshal(req.Payload, &ref); err != nil {
		return nil, err
	}
	cj, ok := s.coordJob(ref.JobID)
	if !ok {
		rec, found, err := s.jobs.Get(ctx, ref.JobID)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: no job %s", ErrUnknownJob, ref.JobID)
		}
		if rec.Info.Status.Terminal() {
			return nil, nil
		}
		if !s.m.IsCoordinator() {
			return nil, errNotCoordinator
		}
		return nil, fmt.Errorf("job %s is not coordinated by this member", ref.JobID)
	}
	cj.fail(ctx, ErrCancelled, true)
	return nil, nil
}

// watchMembers fails the jobs a departed member was running, and, on a new
// coordinator, the jobs the old one was coordinating.
func (s *service) watchMembers(ctx context.Context) {
	var last []member.Info
	for {
		ms, err := s.m.WaitMembers(ctx, func(ms []member.Info) bool { return !sameMembers(ms, last) })
		if err != nil {
			return
		}
		last = ms
		if !s.m.IsCoordinator() {
			continue
		}
		live := map[string]bool{}
		for _, i := range ms {
			live[i.ID] = true
		}
		s.mu.Lock()
		jobs := make([]*coordJob, 0, len(s.coord))
		for _, cj := range s.coord {
			jobs = append(jobs, cj)
		}
		s.mu.Unlock()
		for _, cj := range jobs {
			for _, id := range cj.plan.Members {
				if !live[id] {
					cj.fail(ctx, fmt.Errorf("%w: member %s", ErrMemberLost, id), false)
					break
				}
			}
		}
		s.adoptOrphans(ctx, live)
	}
}

// adoptOrphans ends jobs recorded as running whose coordinator is gone.
func (s *service) adoptOrphans(ctx context.Context, live map[string]bool) {
	var orphans []jobRecord
	_ = s.jobs.Scan(ctx, func(_ string, rec jobRecord) bool {
		if !rec.Info.Status.Terminal() && !live[rec.Info.Coordinator] {
			orphans = append(orphans, rec)
		}
		return true
	})
	for _, rec := range orphans {
		var p plan
		if err := wire.Unmarshal(rec.Plan, &p); err != nil {
			continue
		}
		cj := &coordJob{s: s, rec: rec, plan: &p, pending: map[int]bool{}}
		cj.fail(ctx, fmt.Errorf("%w: coordinator %s", ErrMemberLost, rec.Info.Coordinator), false)
	}
}

func sameMembers(a, b []member.Info) bool {
	return slices.EqualFunc(a, b, func(x, y member.Info) bool { return x.ID == y.ID && x.Leaving == y.Leaving })
}

func sortJobs(js []JobInfo) {
	sort.Slice(js, func(i, j int) bool { return js[i].Submitted.After(js[j].Submitted) })
}

// signal is a broadcast: waiters take the current channel, which is closed
// and replaced on every change.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
