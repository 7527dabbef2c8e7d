package member

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/wire"
)

// Stats is a member's own view of itself, for metrics and health checks:
// counters since it started and gauges read now. Reading it takes no lock
// on any hot path.
type Stats struct {
	// Members is the number of live members this member sees, itself
	// included.
	Members int
	// TableVersion is the version of the partition table applied (0: none
	// yet).
	TableVersion uint64
	// Owned and Backups are the partitions this member holds as owner and
	// as backup in that table.
	Owned, Backups int
	// Migrations counts the partitions this member sent to others as a
	// migration's source.
	Migrations int64
	// MigrationsPending is the partitions frozen here for a migration, and
	// the copies received here that no table has committed yet.
	MigrationsPending int
	// GossipHealth is memberlist's health score: 0 is healthy; it grows
	// when this member's own probes fail, a sign that it is slow or cut off.
	GossipHealth int
	// Stale reports a partition table that may be out of date (the quorum
	// was lost; see Member.TableStale).
	Stale     bool
	Transport TransportStats
}

// transportCounters are the transport's counters; bytes are counted per
// read and write system call, frames per frame read and per buffer flushed.
type transportCounters struct {
	bytesSent, bytesReceived   atomic.Int64
	framesSent, framesReceived atomic.Int64
}

// countedConn counts the bytes of a transport connection, handshake
// included.
type countedConn struct {
	net.Conn
	c *transportCounters
}

func (cc countedConn) Read(b []byte) (int, error) {
	n, err := cc.Conn.Read(b)
	cc.c.bytesReceived.Add(int64(n))
	return n, err
}

func (cc countedConn) Write(b []byte) (int, error) {
	n, err := cc.Conn.Write(b)
	cc.c.bytesSent.Add(int64(n))
	return n, err
}

// Stats returns the member's counters and gauges now.
func (m *Member) Stats() Stats {
	s := Stats{Members: len(m.view.Load().members), Stale: m.TableStale(), Migrations: m.migrations.Load()}
	if t := m.Partitions(); t != nil {
		s.TableVersion = t.Version()
		for p := range t.Count() {
			switch i := t.ReplicaIndex(p, m.id); {
			case i == 0:
				s.Owned++
			case i > 0:
				s.Backups++
			}
		}
	}
	if m.list != nil {
		s.GossipHealth = m.list.GetHealthScore()
	}
	m.frozen.mu.Lock()
	s.MigrationsPending = len(m.frozen.parts) + len(m.frozen.imports)
	m.frozen.mu.Unlock()
	s.Transport = m.TransportStats()
	return s
}

// Readiness reports whether the member is ready to serve, for an orchestrator's
// readiness probe: started and not shut down, a partition table applied and
// trusted, and none of its migrations pending. It returns the reason when
// not.
func (m *Member) Readiness() (bool, string) {
	switch s := m.Stats(); {
	case m.IsClosed():
		return false, "shut down"
	case s.TableVersion == 0:
		return false, "no partition table yet"
	case s.Stale:
		return false, "partition table may be stale (quorum lost)"
	case s.MigrationsPending > 0:
		return false, "migrations pending"
	}
	return true, ""
}

const routeStats = "member.stats" // read a member's Stats

func (m *Member) handleStats(context.Context, *Request) ([]byte, error) {
	s := m.Stats()
	return wire.Marshal(&s)
}

// StatsOf returns the Stats of member id, asking it over the transport
// unless it is this member.
func (m *Member) StatsOf(ctx context.Context, id string) (Stats, error) {
	if id == m.id {
		return m.Stats(), nil
	}
	var s Stats
	b, err := m.call(ctx, id, routeStats, nil)
	if err == nil {
		err = wire.Unmarshal(b, &s)
	}
	return s, err
}
