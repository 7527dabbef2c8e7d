package dag

import (
	"context"
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

// Suspend takes a final snapshot and stops the job on every member; Resume
// restarts it from that snapshot. A job without a processing guarantee
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
			if _, err := cj.snapshotLocked(ctx); err != nil {
				return nil, fmt.Errorf("final snapshot: %w", err)
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
		return nil, cj.restart(ctx, "restart requested")
	case "export":
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
		} else if c, err = cj.snapshotLocked(ctx); err != nil {
			return nil, err
		}
		return nil, cj.store.Export(ctx, c, msg.Name)
	}
	return nil, fmt.Errorf("unknown job action %q", msg.Action)
}
