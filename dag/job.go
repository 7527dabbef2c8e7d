package dag

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// Errors about jobs.
var (
	// ErrUnknownJob: no job of that name is registered (on the member that
	// reports it), or no job has that ID.
	ErrUnknownJob = errors.New("dag: unknown job")
	// ErrDefinitionMismatch: a member built a different DAG from the same job
	// name and parameters (its binary has another version of the job).
	ErrDefinitionMismatch = errors.New("dag: job definitions differ between members")
	// ErrCancelled: the job was cancelled.
	ErrCancelled = errors.New("dag: job cancelled")
	// ErrMemberLost: a member running the job left the cluster.
	ErrMemberLost = errors.New("dag: a member running the job left")
	// ErrNotReplayable: a job asks for a processing guarantee, but one of
	// its sources cannot read again from a saved position.
	ErrNotReplayable = errors.New("dag: source is not replayable")
)

func init() {
	member.RegisterErrorCode("dag.unknown-job", ErrUnknownJob)
	member.RegisterErrorCode("dag.definition-mismatch", ErrDefinitionMismatch)
	member.RegisterErrorCode("dag.cancelled", ErrCancelled)
	member.RegisterErrorCode("dag.member-lost", ErrMemberLost)
	member.RegisterErrorCode("dag.not-replayable", ErrNotReplayable)
}

// JobStatus is where a job is in its life.
type JobStatus uint8

// Job statuses.
const (
	Starting   JobStatus = iota // planned, being set up on the members
	Running                     // processing
	Completing                  // some members have finished, others not yet
	Completed                   // every member finished without error
	Failed                      // a processor failed; Error says why
	Cancelled                   // cancelled by a user
	Restarting                  // stopped to start again (a member left or joined), from its last snapshot
	Suspended                   // stopped by a user after a final snapshot; Resume restarts it
)

func (s JobStatus) String() string {
	switch s {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Completing:
		return "completing"
	case Completed:
		return "completed"
	case Failed:
		return "failed"
	case Cancelled:
		return "cancelled"
	case Restarting:
		return "restarting"
	case Suspended:
		return "suspended"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Terminal reports whether the job has ended.
func (s JobStatus) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// JobInfo describes a job.
type JobInfo struct {
	ID          string    `msgpack:"i"`
	Name        string    `msgpack:"n"` // the registered job name
	Status      JobStatus `msgpack:"s"`
	Error       string    `msgpack:"e,omitempty"`
	Submitted   time.Time `msgpack:"t"`
	Ended       time.Time `msgpack:"d,omitempty"`
	Members     []string  `msgpack:"m,omitempty"`
	Config      JobConfig `msgpack:"c"`
	Coordinator string    `msgpack:"o"`
	// Restarts counts the executions after the first (member changes,
	// restarts, resumes).
	Restarts int `msgpack:"r,omitempty"`
	// Execution is the number of the job's latest execution, the one its
	// processors see as Context.Execution: 1 for the first, one more for
	// every execution after it (each restart; a suspension and its resume
	// count one each). It changes when the coordinator sets the new
	// execution up, so while Restarting it may still name the one that
	// stopped.
	Execution uint64 `msgpack:"u,omitempty"`
	// RestoredFrom is the snapshot the current execution started from (0:
	// none, it started from the beginning).
	RestoredFrom uint64 `msgpack:"f,omitempty"`
	// Snapshots counts the snapshots completed.
	Snapshots uint64 `msgpack:"x,omitempty"`
	// LastSnapshot is the ID of the last snapshot completed (0: none), the
	// one a restart or a resume restores. IDs of snapshots that did not
	// complete are not reused, so it may exceed Snapshots.
	LastSnapshot uint64 `msgpack:"ls,omitempty"`
	// SnapshotsPostponed counts the snapshots not started because a
	// processor was still reading higher-priority inputs (the build sides
	// of a hash join): snapshots wait for them, as in Hazelcast Jet.
	SnapshotsPostponed uint64 `msgpack:"y,omitempty"`
	// LastSnapshotTook is how long the last complete snapshot took, from
	// its barriers going out to its last acknowledgement verified.
	LastSnapshotTook time.Duration `msgpack:"lt,omitempty"`
}

// jobRecord is what the cluster keeps about a job, in a replicated map.
type jobRecord struct {
	Info   JobInfo `msgpack:"i"`
	Params []byte  `msgpack:"p"`
	Plan   []byte  `msgpack:"l,omitempty"`
	// Snapshot is the last complete snapshot, to restart from.
	Snapshot snapshot.Completed `msgpack:"s,omitempty"`
	// Stamp is new at every fenced write of the record (see fence.go): a
	// write expects the stamp it read or last wrote, so any write between
	// refuses it.
	Stamp uint64 `msgpack:"w,omitempty"`
}

const jobsMap = "__weir.jobs"

// Job is a handle on a submitted job.
type Job struct {
	s  *service
	ID string
}

// Submit starts the registered job name with params on the cluster m belongs
// to, from any member (lite members included): m is a member started with
// the job service (weir.Start), a service's member.Host or a processor's
// context. It returns once the job is
// recorded; the job is then set up on every data member. Wait for its end
// with Wait.
func Submit[P any](ctx context.Context, m member.Services, name string, params P, opts ...JobOption) (*Job, error) {
	b, err := wire.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("submit %q: encode parameters: %w", name, err)
	}
	var cfg JobConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := serviceOf(m)
	id, err := s.submit(ctx, submitMsg{Name: name, Params: b, Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("submit %q: %w", name, err)
	}
	return &Job{s: s, ID: id}, nil
}

// JobByID returns a handle on the job with the given ID.
func JobByID(m member.Services, id string) *Job { return &Job{s: serviceOf(m), ID: id} }

// Info returns the job's current description.
func (j *Job) Info(ctx context.Context) (JobInfo, error) {
	rec, ok, err := j.s.jobs.Get(ctx, j.ID)
	if err != nil {
		return JobInfo{}, err
	}
	if !ok {
		return JobInfo{}, fmt.Errorf("%w: no job %s", ErrUnknownJob, j.ID)
	}
	return rec.Info, nil
}

// Status returns the job's status.
func (j *Job) Status(ctx context.Context) (JobStatus, error) {
	info, err := j.Info(ctx)
	return info.Status, err
}

// Wait waits until the job ends and returns its error: nil if it
// completed, an error wrapping ErrCancelled if cancelled, the failure
// otherwise.
func (j *Job) Wait(ctx context.Context) error {
	poll := 5 * time.Millisecond
	for {
		changed := j.s.jobsChanged.Wait()
		info, err := j.Info(ctx)
		if err != nil {
			return err
		}
		switch info.Status {
		case Completed:
			return nil
		case Cancelled:
			return fmt.Errorf("job %s (%s): %w", j.ID, info.Name, ErrCancelled)
		case Failed:
			return fmt.Errorf("job %s (%s) failed: %s", j.ID, info.Name, info.Error)
		}
		t := time.NewTimer(poll)
		select {
		case <-changed:
		case <-t.C:
			poll = min(2*poll, 500*time.Millisecond)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// Cancel stops the job on every member. It returns once the coordinator
// accepted the request; Wait then returns an error wrapping ErrCancelled.
func (j *Job) Cancel(ctx context.Context) error {
	b, err := wire.Marshal(&jobRef{JobID: j.ID})
	if err != nil {
		return err
	}
	_, err = j.s.callCoordinator(ctx, routeCancel, b)
	return err
}

// Jobs lists the cluster's jobs, newest first.
func Jobs(ctx context.Context, m member.Services) ([]JobInfo, error) {
	s := serviceOf(m)
	var out []JobInfo
	err := s.jobs.Scan(ctx, func(_ string, rec jobRecord) bool {
		out = append(out, rec.Info)
		return true
	})
	sortJobs(out)
	return out, err
}

// ensure the record map's value type is encodable at compile time.
var _ = grid.GetMap[string, jobRecord]
