package member

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/partition"
)

// ReplicaService is implemented by services that keep data per partition
// (distributed maps) so that the data moves with the partition's replicas.
//
// A migration of partition p runs on p's current owner: FreezePartition
// stops applying writes to p (they wait, or fail with a retryable error) and
// returns p's data; commit is the table version that will make the copies
// live; the member copies it to each new replica, whose
// ImportPartition replaces its copy of p; once the coordinator publishes the
// table that makes the new replicas live, or gives up on the migration,
// ThawPartition releases the writes, which then route by the new table.
// ThawPartition of a partition that is not frozen does nothing.
//
// Services learn that they no longer hold a replica of p from OnTableChange.
type ReplicaService interface {
	FreezePartition(ctx context.Context, p int, commit uint64) ([]byte, error)
	ThawPartition(p int)
	ImportPartition(ctx context.Context, p int, data []byte) error
}

// registerReplicaService registers s under name. Register the same names on
// every member, before data exists (from a Service's Attach).
func (m *Member) registerReplicaService(name string, s ReplicaService) {
	m.frozen.mu.Lock()
	defer m.frozen.mu.Unlock()
	m.frozen.services[name] = s
}

type migrateMsg struct {
	Partition int      `msgpack:"p"`
	Added     []string `msgpack:"a"`
	Commit    uint64   `msgpack:"c"`
	// Addrs are the added members' transport addresses: the coordinator may
	// know of a new member before gossip tells the owner.
	Addrs map[string]string `msgpack:"r,omitempty"`
}

type importMsg struct {
	Partition int               `msgpack:"p"`
	Data      map[string][]byte `msgpack:"d"`
	// Commit is the version of the table that makes the copy live.
	Commit uint64 `msgpack:"c,omitempty"`
}

// frozenParts tracks the partitions this member froze for migrations, each
// with the table version whose arrival releases it.
type frozenParts struct {
	mu       sync.Mutex // guards everything below
	parts    map[int]frozenPart
	services map[string]ReplicaService
	// imports holds, for each partition copied here and not yet committed,
	// the version of the table that commits the copy.
	imports map[int]uint64
}

type frozenPart struct {
	commit uint64
	since  time.Time
}

func (f *frozenParts) init() {
	f.parts = map[int]frozenPart{}
	f.services = map[string]ReplicaService{}
	f.imports = map[int]uint64{}
}

// importCommit returns the version of the table that commits the copy of
// partition p this member received, or 0 when it holds none waiting for a
// table. A table change listener keeps a copy that a later table commits,
// even if the table it is told about does not list this member for p: a
// member behind the coordinator may learn of an older table after the copy
// arrived.
func (m *Member) importCommit(p int) uint64 {
	m.frozen.mu.Lock()
	defer m.frozen.mu.Unlock()
	return m.frozen.imports[p]
}

func (f *frozenParts) serviceList() ([]string, []ReplicaService) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.services))
	for n := range f.services {
		names = append(names, n)
	}
	slices.Sort(names)
	svcs := make([]ReplicaService, len(names))
	for i, n := range names {
		svcs[i] = f.services[n]
	}
	return names, svcs
}

// release thaws the partitions whose commit version t reaches, and forgets
// the copies it commits.
func (f *frozenParts) release(m *Member, t *partition.Table) {
	f.mu.Lock()
	for p, commit := range f.imports {
		if t.Version() >= commit {
			delete(f.imports, p)
		}
	}
	var thaw []int
	for p, fp := range f.parts {
		if t.Version() >= fp.commit {
			thaw = append(thaw, p)
			delete(f.parts, p)
		}
	}
	svcs := make([]ReplicaService, 0, len(f.services))
	for _, s := range f.services {
		svcs = append(svcs, s)
	}
	f.mu.Unlock()
	for _, p := range thaw {
		for _, s := range svcs {
			s.ThawPartition(p)
		}
	}
}

// handleMigrate runs on a partition's owner: freeze, copy to the added
// replicas, and leave the partition frozen until the commit table arrives.
func (m *Member) handleMigrate(ctx context.Context, req *Request) ([]byte, error) {
	var msg migrateMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	m.transport.learn(msg.Addrs)
	p := msg.Partition
	if p < 0 || p >= m.cfg.PartitionCount {
		return nil, fmt.Errorf("migrate: partition %d out of range", p)
	}
	f := &m.frozen
	f.mu.Lock()
	if m.tableVersion() >= msg.Commit {
		f.mu.Unlock()
		return nil, fmt.Errorf("migrate partition %d: table %d already published, migration is stale", p, msg.Commit)
	}
	f.parts[p] = frozenPart{commit: msg.Commit, since: m.cfg.Clock.Now()}
	f.mu.Unlock()

	names, svcs := f.serviceList()
	data := make(map[string][]byte, len(svcs))
	var err error
	for i, s := range svcs {
		var b []byte
		if b, err = s.FreezePartition(ctx, p, msg.Commit); err != nil {
			err = fmt.Errorf("freeze partition %d in %s: %w", p, names[i], err)
			break
		}
		data[names[i]] = b
	}
	// A commit table may have arrived while we froze: release what it missed.
	f.mu.Lock()
	_, stillFrozen := f.parts[p]
	f.mu.Unlock()
	if !stillFrozen {
		for _, s := range svcs {
			s.ThawPartition(p)
		}
		if err == nil {
			err = fmt.Errorf("migrate partition %d: released during freeze", p)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(msg.Added) == 0 {
		return nil, nil
	}
	b, err := wire.Marshal(&importMsg{Partition: p, Data: data, Commit: msg.Commit})
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(msg.Added))
	parallel(indexes(len(msg.Added)), migrationConcurrency, func(i int) {
		if _, err := m.call(ctx, msg.Added[i], routeImport, b); err != nil {
			errs[i] = fmt.Errorf("copy partition %d to member %s: %w", p, msg.Added[i], err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.migrations.Add(1)
	return nil, nil
}

func indexes(n int) []int {
	is := make([]int, n)
	for i := range is {
		is[i] = i
	}
	return is
}

// handleImport installs a partition copy sent by its owner.
func (m *Member) handleImport(ctx context.Context, req *Request) ([]byte, error) {
	var msg importMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	if msg.Partition < 0 || msg.Partition >= m.cfg.PartitionCount {
		return nil, fmt.Errorf("import: partition %d out of range", msg.Partition)
	}
	m.frozen.mu.Lock()
	if msg.Commit > m.tableVersion() {
		m.frozen.imports[msg.Partition] = max(m.frozen.imports[msg.Partition], msg.Commit)
	}
	svcs := make(map[string]ReplicaService, len(m.frozen.services))
	for n, s := range m.frozen.services {
		svcs[n] = s
	}
	m.frozen.mu.Unlock()
	for name, data := range msg.Data {
		s, ok := svcs[name]
		if !ok {
			return nil, fmt.Errorf("import partition %d: member %s has no %q service (do all members link the same packages?)", msg.Partition, m.id, name)
		}
		if err := s.ImportPartition(ctx, msg.Partition, data); err != nil {
			return nil, fmt.Errorf("import partition %d into %s: %w", msg.Partition, name, err)
		}
	}
	return nil, nil
}

// watchdogTick is how often the watchdog looks at the frozen partitions.
const watchdogTick = time.Second

// overdueLocked returns the highest commit version among the partitions
// frozen for more than limit at now, or 0 when none is.
func (f *frozenParts) overdueLocked(now time.Time, limit time.Duration) uint64 {
	var need uint64
	for _, fp := range f.parts {
		if now.Sub(fp.since) > limit {
			need = max(need, fp.commit)
		}
	}
	return need
}

// watchdog asks the coordinator for a releasing table when a partition has
// been frozen much longer than a migration may take (twice
// MigrationTimeout): the coordinator that froze it may have died before
// publishing.
func (f *frozenParts) watchdog(m *Member) func(context.Context) {
	return func(ctx context.Context) {
		t := m.cfg.Clock.NewTicker(watchdogTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.Chan():
			}
			f.mu.Lock()
			need := f.overdueLocked(m.cfg.Clock.Now(), 2*m.cfg.MigrationTimeout)
			f.mu.Unlock()
			if need == 0 {
				continue
			}
			c, ok := m.Coordinator()
			if !ok {
				continue
			}
			if err := m.askForTable(ctx, c.ID, need); err != nil {
				m.log.Warn("partition frozen too long and the coordinator cannot be asked to release it", "err", err)
			}
		}
	}
}
