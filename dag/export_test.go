package dag

import "github.com/weir-dev/weir/member"

// FailRecordWrites makes m's job record writes call f with the snapshot
// the record names, and fail with f's error; nil f lets them through again.
func FailRecordWrites(m *member.Member, f func(snapshot uint64) error) {
	if f == nil {
		serviceOf(m).recordFault.Store(nil)
		return
	}
	serviceOf(m).recordFault.Store(&f)
}
