package member

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// gossip adapts the member to memberlist's delegate interfaces. memberlist
// calls the event methods with its own locks held, so they only record the
// change and signal; the work happens on the member's goroutines.
type gossip struct{ m *Member }

var (
	_ memberlist.Delegate      = gossip{}
	_ memberlist.EventDelegate = gossip{}
	_ memberlist.AliveDelegate = gossip{}
	_ memberlist.MergeDelegate = gossip{}
)

func (g gossip) NodeMeta(limit int) []byte {
	b := g.m.meta.Load()
	if b == nil || len(*b) > limit {
		return nil
	}
	return *b
}

func (gossip) NotifyMsg([]byte)                       {}
func (gossip) GetBroadcasts(int, int) [][]byte        { return nil }
func (gossip) LocalState(bool) []byte                 { return nil }
func (gossip) MergeRemoteState([]byte, bool)          {}
func (g gossip) NotifyJoin(n *memberlist.Node)        { g.m.nodeEvent(n, false) }
func (g gossip) NotifyUpdate(n *memberlist.Node)      { g.m.nodeEvent(n, false) }
func (g gossip) NotifyLeave(n *memberlist.Node)       { g.m.nodeEvent(n, true) }
func (g gossip) NotifyAlive(n *memberlist.Node) error { return g.m.checkPeer(n) }

// NotifyMerge runs when this member joins another's cluster or the other
// joins ours; refusing it makes the join fail with the reason.
func (g gossip) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := g.m.checkPeer(n); err != nil {
			g.m.joinRefusal.Store(&err)
			return err
		}
	}
	return nil
}

// checkPeer refuses members of another cluster, with another partition
// count or protocol, data members serving other services than this one
// when it is a data member, and a second live member under one name; the
// reason is logged once per member.
func (m *Member) checkPeer(n *memberlist.Node) error {
	meta, err := decodeMeta(n.Meta)
	if n.Name == m.cfg.Name {
		// Gossip about this member's own name is memberlist's business,
		// unless it comes from another process: a joiner that meets a live
		// member under its own name must not join, and the live member must
		// not take the newcomer's word for what its name means.
		if err == nil && meta.ID != m.id && n.State != memberlist.StateDead && n.State != memberlist.StateLeft &&
			n.Address() != m.list.LocalNode().Address() {
			return m.refusePeer(n, fmt.Errorf("%w: a live member is called %q (id %s, gossip %s); give this member another name",
				ErrNameTaken, n.Name, meta.ID, n.Address()))
		}
		return nil
	}
	var reason string
	switch {
	case err != nil:
		reason = err.Error()
	case m.liveUnderName(n.Name, meta.ID, n.Address()):
		return m.refusePeer(n, fmt.Errorf("%w: member %s at %s claims the name of a live member", ErrNameTaken, n.Name, n.Address()))
	case meta.Cluster != m.cfg.ClusterName:
		reason = fmt.Sprintf("cluster name mismatch: this member is in cluster %q, member %s in %q", m.cfg.ClusterName, n.Name, meta.Cluster)
	case meta.Partitions != m.cfg.PartitionCount:
		reason = fmt.Sprintf("partition count mismatch: this member has %d partitions, member %s has %d", m.cfg.PartitionCount, n.Name, meta.Partitions)
	case meta.Protocol != protocol:
		reason = fmt.Sprintf("protocol mismatch: this member speaks %d, member %s speaks %d", protocol, n.Name, meta.Protocol)
	case !m.cfg.Lite && !meta.Lite && !sameServices(m.services.shared, meta.Services):
		reason = fmt.Sprintf("services mismatch: data member %s serves %s, but this data member serves %s; "+
			"every data member of a cluster serves the same (weir.Start attaches maps and jobs; start members with no services only as lite members)",
			n.Name, serviceList(meta.Services), serviceList(m.services.shared))
	default:
		return nil
	}
	return m.refusePeer(n, errors.New(reason))
}

// refusePeer logs, once per member and reason, that n is refused, and
// returns the reason.
func (m *Member) refusePeer(n *memberlist.Node, reason error) error {
	key := n.Name + "\x00" + reason.Error()
	if _, seen := m.refusedPeers.LoadOrStore(key, struct{}{}); !seen {
		m.log.Warn("gossip: refusing member", "member", n.Name, "addr", n.Address(), "reason", reason.Error())
	}
	return reason
}

// liveUnderName reports whether a live member other than the one with ID
// id is called name. One at the same gossip address is not another live
// member but the same address restarted: its predecessor is gone, and
// memberlist lets the new process take the name over.
func (m *Member) liveUnderName(name, id, addr string) bool {
	for _, i := range m.view.Load().members {
		if i.Name == name && i.ID != id && i.GossipAddr != addr {
			return true
		}
	}
	return false
}

// nodeEvent records a membership change reported by memberlist.
func (m *Member) nodeEvent(n *memberlist.Node, left bool) {
	m.nodesMu.Lock()
	defer m.nodesMu.Unlock()
	if left {
		delete(m.nodes, n.Name)
	} else {
		info, _, err := infoOf(n)
		if err != nil {
			m.log.Warn("gossip: ignoring member with bad metadata", "member", n.Name, "err", err)
			return
		}
		m.nodes[n.Name] = info
	}
	infos := make([]Info, 0, len(m.nodes))
	for _, i := range m.nodes {
		infos = append(infos, i)
	}
	m.view.Store(newView(infos))
	m.checkQuorum()
	select {
	case m.viewDirty <- struct{}{}:
	default:
	}
}

// view is an immutable snapshot of the live members.
type view struct {
	members []Info // oldest first
	byID    map[string]Info
	data    int // data members, leaving ones included
}

func newView(infos []Info) *view {
	slices.SortFunc(infos, func(a, b Info) int {
		if a.older(b) {
			return -1
		}
		if b.older(a) {
			return 1
		}
		return 0
	})
	v := &view{members: infos, byID: make(map[string]Info, len(infos))}
	for _, i := range infos {
		v.byID[i.ID] = i
		if !i.Lite {
			v.data++
		}
	}
	return v
}

// dataMembers returns the IDs of live members that hold partitions, in age
// order; with leaving false, members that are leaving are excluded.
func (v *view) dataMembers(includeLeaving bool) []string {
	ids := make([]string, 0, len(v.members))
	for _, i := range v.members {
		if !i.Lite && (includeLeaving || !i.Leaving) {
			ids = append(ids, i.ID)
		}
	}
	return ids
}

// watchMembers turns recorded membership changes into actions: it closes
// connections to members that left, notifies listeners and wakes the
// coordinator.
func (m *Member) watchMembers(ctx context.Context) {
	known := map[string]Info{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.viewDirty:
		}
		v := m.view.Load()
		for id, info := range known {
			if _, ok := v.byID[id]; !ok {
				m.log.Info("member left", "peer", info.String())
				m.transport.closePeer(id, fmt.Errorf("%w %s: the member left the cluster", ErrConnectionLost, id))
				delete(known, id)
			}
		}
		for id, info := range v.byID {
			if old, ok := known[id]; !ok {
				if id != m.id {
					m.log.Info("member joined", "peer", info.String())
				}
			} else if old.Leaving != info.Leaving && info.Leaving {
				m.log.Info("member is leaving", "peer", info.String())
			}
			known[id] = info
		}
		m.membersChanged.Broadcast()
		m.pokeCoordinator()
	}
}

// rejoin periodically joins configured seeds that are not live members.
func (m *Member) rejoin(ctx context.Context) {
	if m.cfg.RejoinInterval <= 0 || len(m.cfg.Join) == 0 {
		return
	}
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		live := map[string]bool{}
		for _, i := range m.Members() {
			live[i.GossipAddr] = true
		}
		var missing []string
		for _, seed := range m.cfg.Join {
			if !live[seed] {
				missing = append(missing, seed)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if n, err := m.list.Join(missing); err != nil {
			m.log.Debug("gossip: rejoin failed", "seeds", missing, "joined", n, "err", err)
		} else {
			m.log.Debug("gossip: rejoined seeds", "seeds", missing, "joined", n)
		}
	}
}

// memberlistLog turns memberlist's "[LEVEL] memberlist: text" lines into slog
// records at the matching level.
type memberlistLog struct {
	log *slog.Logger
	// loopback: gossip is bound to a loopback address, where a UDP probe
	// answered late is a busy process (members in one process, under
	// load or shutting down), not the misconfigured network memberlist
	// warns of.
	loopback bool
}

func (w memberlistLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if strings.Contains(line, "use of closed network connection") {
		// Our own sockets, closed by Shutdown: the end, not an error.
		level = slog.LevelDebug
	}
	if w.loopback && strings.Contains(line, "UDP probes failed") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, "gossip: "+line)
	return len(p), nil
}

func serviceList(names []string) string {
	if len(names) == 0 {
		return "no services"
	}
	return "[" + strings.Join(names, " ") + "]"
}
