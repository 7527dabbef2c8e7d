package dag

import (
	"context"

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
