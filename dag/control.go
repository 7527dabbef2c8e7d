package dag

import (
	"context"
	"errors"
	"fmt"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

const routeControl = "job.control" // to the coordinator: suspend, resume, restart, export

type controlMsg struct {
	JobID  string `msgpack:"j"`
	Action string `msgpack:"a"`
	Name   string `msgpack:"n,omitempty"`
}

func (j *Job) control(ctx context.Context, action, name string) error {
	b, err := wire.Marshal(&controlMsg{JobID: j.ID, Action: action, Name: name})
	if err != nil {
		return err
	}
	_, err = j.s.callCoordinator(ctx, routeControl, b)
	if err != nil {
		return fmt.Errorf("%s job %s: %w", action, j.ID, err)
	}
	return nil
}

// Suspend takes a terminal snapshot and stops the job on every member;
// Resume restarts it from that snapshot. Past the snapshot's barrier a
// source emits nothing more, so once Suspend returns every sink holds
// exactly the snapshot's output: two-phase-commit sinks have committed it,
// and idempotent map sinks hold what was written up to the cut, nothing
// after it. A job without a processing guarantee takes no snapshot and
// restarts from the beginning.
func (j *Job) Suspend(ctx context.Context) error { return j.control(ctx, "suspend", "") }

// Resume restarts a suspended job from its last snapshot.
func (j *Job) Resume(ctx context.Context) error { return j.control(ctx, "resume", "") }

// Restart stops the job and starts it again on the current members, from
// its last complete snapshot.
func (j *Job) Restart(ctx context.Context) error { return j.control(ctx, "restart", "") }

// ExportSnapshot takes a snapshot of the running job (of a suspended job: the
// one taken when it was suspended) and keeps a copy under name, which
// outlives the job: submit a new job (a new version, say) with
// FromSnapshot(name) to start from its state. To hand over without the two
// jobs overlapping, suspend the old job, export, cancel it, then submit the
// new one.
func (j *Job) ExportSnapshot(ctx context.Context, name string) error {
	return j.control(ctx, "export", name)
}

// CancelAndExportSnapshot takes a terminal snapshot of the running job (as
// Suspend does: the sinks hold exactly its output), keeps a copy under
// name, then cancels the job. Of a suspended job it exports the snapshot
// taken on suspension. Submit the job's next version with
// FromSnapshot(name): it starts where this one stopped, with nothing
// processed twice or lost.
func (j *Job) CancelAndExportSnapshot(ctx context.Context, name string) error {
	return j.control(ctx, "cancel-export", name)
}

// FromSnapshot starts a job from a snapshot exported under name: its
// vertices restore the state saved by the vertices of the same names.
func FromSnapshot(name string) JobOption { return func(c *JobConfig) { c.FromSnapshot = name } }

// WithGuarantee sets the job's processing guarantee.
func WithGuarantee(g Guarantee) JobOption { return func(c *JobConfig) { c.Guarantee = g } }

func (s *service) handleControl(ctx context.Context, req *member.Request) ([]byte, error) {
	var msg controlMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	cj, err := s.coordinated(ctx, msg.JobID)
	if err != nil {
		return nil, err
	}
	switch msg.Action {
	case "suspend":
		cj.opMu.Lock()
		defer cj.opMu.Unlock()
		if st := cj.status(); st != Running {
			return nil, fmt.Errorf("job %s is %s, not running", msg.JobID, st)
		}
		if cj.currentPlan().Config.Guarantee != None {
			if _, err := cj.terminalSnapshotLocked(ctx); err != nil {
				return nil, fmt.Errorf("terminal snapshot: %w", err)
			}
		}
		return nil, cj.restartLocked(ctx, "suspended", Suspended)
	case "resume":
		cj.opMu.Lock()
		defer cj.opMu.Unlock()
		if st := cj.status(); st != Suspended {
			return nil, fmt.Errorf("job %s is %s, not suspended", msg.JobID, st)
		}
		return nil, cj.restartLocked(ctx, "resumed", Running)
	case "restart":
		return nil, cj.restart(ctx, "restart requested", anyExecution)
	case "export", "cancel-export":
		if cj.currentPlan().Config.Guarantee == None {
			return nil, fmt.Errorf("job %s takes no snapshots (processing guarantee none)", msg.JobID)
		}
		if msg.Name == "" {
			return nil, fmt.Errorf("export a snapshot of job %s: no name given", msg.JobID)
		}
		cj.opMu.Lock()
		defer cj.opMu.Unlock()
		var c snapshot.Completed
		if cj.status() == Suspended {
			// The snapshot taken when it was suspended is its state.
			cj.mu.Lock()
			last, ok := cj.life.Last()
			cj.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("job %s is suspended without a snapshot", msg.JobID)
			}
			c = last
		} else if msg.Action == "cancel-export" {
			if c, err = cj.terminalSnapshotLocked(ctx); err != nil {
				return nil, fmt.Errorf("terminal snapshot: %w", err)
			}
		} else if c, err = cj.snapshotLocked(ctx, false); err != nil {
			return nil, err
		}
		if err := cj.store.Export(ctx, c, msg.Name); err != nil {
			if msg.Action == "cancel-export" && cj.status() == Running {
				// Its processing stopped at the terminal snapshot: run on.
				_ = cj.restartLocked(ctx, "the export failed", Running)
			}
			return nil, err
		}
		if msg.Action == "cancel-export" {
			cj.fail(ctx, ErrCancelled, true)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown job action %q", msg.Action)
}

// terminalSnapshotLocked takes a terminal snapshot: once it completes, the
// execution has stopped processing at its barriers, and its two-phase-commit
// sinks have committed. An attempt that does not complete (a processor slow
// to acknowledge under load) is retried in the same execution: its sources
// emit nothing past the first terminal barrier, so what is queued ahead of
// the next barrier only shrinks. If it cannot be taken (the caller gives
// up, or the execution broke), the job restarts from its last snapshot,
// since its processing may have stopped, and the error is returned. The
// caller holds opMu.
func (cj *coordJob) terminalSnapshotLocked(ctx context.Context) (snapshot.Completed, error) {
	exec := cj.currentPlan().Execution
	for {
		c, err := cj.snapshotLocked(ctx, true)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, errPostponed) || errors.Is(err, errNotRunning) {
			return c, err // no barrier went out
		}
		if ctx.Err() == nil && errors.Is(err, errUnacknowledged) && cj.currentPlan().Execution == exec && cj.status() == Running {
			cj.s.log.Info("terminal snapshot not complete yet; trying again", "job", cj.rec.Info.ID, "err", err)
			continue
		}
		if errors.Is(err, errFenced) || cj.status() != Running && cj.status() != Restarting {
			return c, err
		}
		// Its processing may have stopped at the barrier: run it again
		// from the last snapshot, and try again while the caller waits (an
		// execution that broke under load, a restart that interrupted it).
		rerr := cj.restartLocked(context.WithoutCancel(ctx), "a terminal snapshot failed: "+err.Error(), Running)
		if rerr != nil || ctx.Err() != nil {
			if rerr != nil {
				cj.s.log.Warn("job restart after a failed terminal snapshot failed", "job", cj.id, "err", rerr)
			}
			return c, err
		}
		cj.s.log.Info("terminal snapshot failed; the job restarted, trying again", "job", cj.id, "err", err)
		exec = cj.currentPlan().Execution
	}
}
