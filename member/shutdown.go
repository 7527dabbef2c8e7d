package member

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weir-dev/weir/partition"
)

// Shutdown leaves the cluster gracefully: the member announces that it is
// leaving, waits (bounded by ctx) until the coordinator has moved every
// partition replica it holds to other members, shuts down its services,
// leaves the gossip cluster and closes its connections. It returns once
// every goroutine of the member has stopped. Shutdown is idempotent: later
// calls wait for the first and return nil.
func (m *Member) Shutdown(ctx context.Context) error {
	first := false
	m.shutdownOnce.Do(func() {
		first = true
		m.shutdownErr = m.shutdown(ctx)
		close(m.shutdownDone)
	})
	if !first {
		select {
		case <-m.shutdownDone:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	return m.shutdownErr
}

func (m *Member) shutdown(ctx context.Context) error {
	var errs []error
	if err := m.drain(ctx); err != nil {
		errs = append(errs, err)
	}
	m.closed.Store(true)
	if err := m.services.shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	// The leave message needs a few gossip rounds to spread; if it does not,
	// the others detect the departure as a failure, a little later.
	timeout := max(4*m.cfg.Gossip.GossipInterval, 100*time.Millisecond)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), 0)
	}
	if err := m.list.Leave(timeout); err != nil {
		m.log.Warn("leave message not confirmed sent; the others will detect the departure", "err", err)
	}
	if err := m.list.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("stop gossip: %w", err))
	}
	m.transport.close()
	m.group.Stop()
	m.log.Info("member shut down")
	return errors.Join(errs...)
}

// drain moves this member's partition replicas to the other data members
// before it leaves, so no data is lost even without backups.
func (m *Member) drain(ctx context.Context) error {
	if m.cfg.Lite {
		return nil
	}
	t := m.Partitions()
	if t == nil || !holdsReplicas(t, m.id) {
		return nil
	}
	if len(m.view.Load().dataMembers(false)) <= 1 {
		return nil // the last data member: nowhere to move to
	}
	if err := m.setMeta(true); err != nil {
		return err
	}
	if err := m.list.UpdateNode(time.Second); err != nil {
		m.log.Warn("could not announce leaving promptly", "err", err)
	}
	m.nodeEvent(m.list.LocalNode(), false)
	m.log.Info("leaving: moving partitions to other members")
	for {
		tableChanged, membersChanged := m.tables.changed.Wait(), m.membersChanged.Wait()
		switch {
		case !holdsReplicas(m.Partitions(), m.id):
			return nil
		case len(m.view.Load().dataMembers(false)) == 0:
			return nil // everyone is leaving: nowhere to move to
		case !m.HasQuorum():
			m.log.Warn("leaving without moving partitions: the cluster has no quorum, so no table will move them")
			return nil
		}
		select {
		case <-tableChanged:
		case <-membersChanged:
		case <-ctx.Done():
			return fmt.Errorf("leaving before all partitions moved off this member: %w", ctx.Err())
		}
	}
}

func holdsReplicas(t *partition.Table, id string) bool {
	return len(t.Owned(id)) > 0 || len(t.BackedUp(id)) > 0
}

// Terminate stops the member at once, as if its process had died: it does
// not move its partitions or announce that it leaves, so the other members
// detect a failure and recover its partitions from backups. It is for tests
// of failure handling and for emergencies; use Shutdown otherwise.
func (m *Member) Terminate() {
	m.shutdownOnce.Do(func() {
		m.closed.Store(true)
		_ = m.list.Shutdown() // no Leave: the others must detect the failure
		m.transport.close()
		m.group.Stop()
		_ = m.services.shutdown(context.Background())
		m.log.Info("member terminated")
		close(m.shutdownDone)
	})
}
