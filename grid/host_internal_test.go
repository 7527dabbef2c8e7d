package grid

import "github.com/weir-dev/weir/member"

// HostOf returns the service-facing side of m, for tests that watch table
// changes as the grid does.
func HostOf(m *member.Member) *member.Host { return serviceOf(m).m }
