package clustertest

import (
	"sync"

	"github.com/weir-dev/weir/member"
)

// Network injects network partitions between members of one process. Give
// it as Config.Faults to every member, then Split and Heal.
type Network struct {
	mu     sync.RWMutex
	group  map[string]int     // address -> side; absent: side 0
	cut    map[[2]string]bool // transport address pairs cut both ways
	frames func(member.Frame) member.Fault
}

var _ member.FrameFaults = (*Network)(nil)

// NewNetwork returns a network with no partition.
func NewNetwork() *Network { return &Network{group: map[string]int{}, cut: map[[2]string]bool{}} }

// Allowed implements member.FaultInjector: traffic flows within a side,
// except where the transport is cut.
func (n *Network) Allowed(from, to string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.group[from] == n.group[to] && !n.cut[[2]string{from, to}]
}

// CutTransport cuts the transport between a and b, both ways, and leaves
// their gossip alone: each sees the other alive, and no request between
// them gets through. Heal does not restore it; RestoreTransport does.
func (n *Network) CutTransport(a, b *member.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]string{a.TransportAddr(), b.TransportAddr()}] = true
	n.cut[[2]string{b.TransportAddr(), a.TransportAddr()}] = true
}

// RestoreTransport undoes every CutTransport.
func (n *Network) RestoreTransport() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// Split cuts the network between the given sides: members of one side can
// no longer reach members of another, by gossip or by transport.
func (n *Network) Split(sides ...[]*member.Member) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, side := range sides {
		for _, m := range side {
			n.group[m.Addr()] = i + 1
			n.group[m.TransportAddr()] = i + 1
		}
	}
}

// Heal removes every partition made by Split.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.group)
}

// SetFrames makes rule decide what happens to each transport frame the
// network lets through: dropped, delayed (on the sender's Config.Clock) or
// sent. Rule runs on the sending goroutine and must not block; nil sends
// every frame as is.
func (n *Network) SetFrames(rule func(member.Frame) member.Fault) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.frames = rule
}

// Frame implements member.FrameFaults with the rule given to SetFrames.
func (n *Network) Frame(f member.Frame) member.Fault {
	n.mu.RLock()
	rule := n.frames
	n.mu.RUnlock()
	if rule == nil {
		return member.Fault{}
	}
	return rule(f)
}
