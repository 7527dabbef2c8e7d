package member

import "context"

// MakeStaleAhead puts m in a state a split can leave a member in: its
// table stale (it lost the quorum) and numbered ahead of the coordinator's
// by ahead versions, with the same assignment.
func MakeStaleAhead(m *Member, ahead uint64) {
	m.tables.lost.Add(1)
	t := m.Partitions()
	m.tables.apply(t.WithVersion(t.Version() + ahead))
}

// HostOf returns the service-facing side of m, for tests that register
// routes and call them without a service.
func HostOf(m *Member) *Host { return m.host }

// AskForTable makes m ask its coordinator for a table of at least version
// v, as a member whose partition stayed frozen too long does.
func AskForTable(ctx context.Context, m *Member, v uint64) error {
	c, _ := m.Coordinator()
	return m.askForTable(ctx, c.ID, v)
}
