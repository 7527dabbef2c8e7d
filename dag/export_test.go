package dag

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/member"
)

// FailRecordWrites makes m's job record writes call f with the snapshot
// the record names, and fail with f's error; nil f lets them through again.
func FailRecordWrites(m *member.Member, f func(snapshot uint64) error) {
	if f == nil {
		serviceOf(m).recordFault.Store(nil)
		return
	}
	serviceOf(m).recordFault.Store(&f)
}

// RefuseSetups makes m refuse the setup of the next n executions, as a
// member does that awaits the coordinator's partition table.
func RefuseSetups(m *member.Member, n int64) {
	serviceOf(m).refuseSetups.Store(n)
}

// TakeOverJobs makes m take over every job it does not coordinate, as a
// member does that believes the coordinator gone, and waits until it has
// claimed them or lost them again.
func TakeOverJobs(m *member.Member) {
	serviceOf(m).adoptOrphans(context.Background())
}

// Coordinating reports whether m coordinates job id.
func Coordinating(m *member.Member, id string) bool {
	_, ok := serviceOf(m).coordJob(id)
	return ok
}

// RunsJob reports whether m runs an execution of job id.
func RunsJob(m *member.Member, id string) bool {
	_, ok := serviceOf(m).execution(jobRef{JobID: id})
	return ok
}

// ReadForTakeover reads job id's record on m, as the scan for uncoordinated
// jobs does, and returns what that scan's callback does later: take the job
// over from the record read, unless m coordinates it then.
func ReadForTakeover(m *member.Member, id string) (func(), error) {
	s := serviceOf(m)
	rec, found, err := s.jobs.Get(context.Background(), id)
	if err != nil || !found {
		return nil, fmt.Errorf("job %s: found %v, %w", id, found, err)
	}
	return func() {
		if _, ok := s.coordJob(id); !ok && !rec.Info.Status.Terminal() {
			s.adopt(rec)
		}
	}, nil
}

// LandUnacknowledged writes job id's record on m, its coordinator, as a
// write does that lands but whose acknowledgement is lost (a timeout): the
// record changes, and the coordinator does not know whether it did.
func LandUnacknowledged(m *member.Member, id string) error {
	cj, ok := serviceOf(m).coordJob(id)
	if !ok {
		return fmt.Errorf("job %s is not coordinated here", id)
	}
	cj.writeMu.Lock()
	defer cj.writeMu.Unlock()
	cj.mu.Lock()
	rec := cj.rec
	cj.mu.Unlock()
	rec.Stamp = newStamp()
	if err := cj.s.writeFenced(context.Background(), cj.fence, rec); err != nil {
		return err
	}
	cj.tried = append(cj.tried, fenceOf(rec))
	return nil
}
