package member

import (
	"slices"
	"time"

	"github.com/weir-dev/weir/partition"
)

// coordCore is the coordinator's deterministic core, in the manner of etcd
// raft's RawNode and snapshot.Aligner: it is told what the coordinator
// observed and the time, and says what to do. It reads no clock, sends
// nothing and starts no goroutine; the coordinator goroutine
// (coordinator.run) does the I/O, owns the timers and passes now in. So
// every timing decision here (when a departure is acted on, when a table is
// published) is tested by stepping now, without waiting.
//
// Not safe for concurrent use: the coordinator goroutine alone drives it.
type coordCore struct {
	// settle is how long a member of the table must have been missing from
	// the view before its departure is acted on (see holdDepartures).
	settle     time.Duration
	partitions int // the cluster's partition count
	backups    int // backups per partition

	active       bool            // this member acted as the coordinator at its last step
	known        map[string]bool // the members in the view at the last step
	quorumWarned bool            // the loss of the quorum was reported
	// gone records when each member of the table was first missing from
	// the view.
	gone map[string]time.Time
}

func newCoordCore(cfg Config) coordCore {
	return coordCore{
		settle:     cfg.Gossip.ProbeInterval,
		partitions: cfg.PartitionCount,
		backups:    cfg.BackupCount,
		known:      map[string]bool{},
		gone:       map[string]time.Time{},
	}
}

// coordTick is how often the coordinator steps when nothing pokes it: it
// catches what a lost poke or a failed send left undone.
func coordTick(probe time.Duration) time.Duration { return min(time.Second, 5*probe) }

// gatherPlan says whose tables the coordinator reads before it decides.
type gatherPlan struct {
	ask []string // members to read the table of
	// adopt: take the newest table read as this member's own. Otherwise,
	// one numbered at or above this member's is republished over (see
	// republishAbove).
	adopt bool
	first bool // this member just became the coordinator
}

// resign notes that this member is not the coordinator (any more).
func (c *coordCore) resign() { c.active = false }

// meet starts a step of the coordinator self with the members in its view;
// stale is whether its table may be out of date (Member.TableStale).
//
// A new coordinator adopts the newest table any member holds before
// deciding, and so does one whose table went stale when it lost the quorum:
// only a side with a quorum publishes tables, so the newest is that side's.
// An established one that kept its quorum and meets members it did not
// know (a healed network partition where both sides had one) keeps its own
// table, republished above whatever version the newcomers hold: the other
// side's members then merge what they wrote while apart into this side's
// owners.
func (c *coordCore) meet(self string, members []string, stale bool) gatherPlan {
	p := gatherPlan{first: !c.active}
	for _, id := range members {
		if id != self && (!c.active || !c.known[id]) {
			p.ask = append(p.ask, id)
		}
	}
	p.adopt = p.first || stale
	c.active = true
	c.known = make(map[string]bool, len(members))
	for _, id := range members {
		c.known[id] = true
	}
	return p
}

// republishAbove reports whether an established coordinator whose table is
// at version ours republishes it above newest, the newest version the
// members it just met hold.
func republishAbove(newest, ours uint64) bool { return newest > 0 && newest >= ours }

// coordInput is what the coordinator observed at one step.
type coordInput struct {
	now    time.Time
	table  *partition.Table // the current table; nil before the first
	alive  []string         // data members in the view, leaving ones included
	active []string         // data members in the view that are not leaving
	quorum bool
	bump   uint64 // a frozen member asked for a table of at least this version
}

// coordDecision is what the coordinator does at one step, besides sending
// its table to members that lack it, which it always does.
type coordDecision struct {
	noQuorum     bool // publish nothing: the view has no quorum
	warnNoQuorum bool // ... and that is news: log it
	// hold: members of the table went missing too recently to act on; step
	// again after hold and publish nothing meanwhile.
	hold time.Duration
	// publish is a table to publish, numbered by the coordinator above
	// every version seen and at least atLeast.
	publish  *partition.Table
	atLeast  uint64
	tookBump bool // the bump was looked at: clear it
	// rebalance: move partitions towards the balanced table for the
	// active members.
	rebalance bool
}

// decide says what the coordinator does with what it observed.
func (c *coordCore) decide(in coordInput) coordDecision {
	var d coordDecision
	if !in.quorum {
		d.noQuorum, d.warnNoQuorum = true, !c.quorumWarned
		c.quorumWarned = true
		return d
	}
	c.quorumWarned = false
	if d.hold = c.holdDepartures(in.now, in.table, in.alive); d.hold > 0 {
		return d
	}
	switch cur := in.table; {
	case cur == nil && len(in.active) > 0:
		d.publish = partition.Initial(c.partitions, in.active, c.backups)
	case cur != nil:
		if p := partition.Promote(cur, in.alive); p != cur {
			d.publish = p
		} else {
			d.tookBump = true
			if in.bump > cur.Version() {
				d.publish, d.atLeast = cur, in.bump
			}
		}
		d.rebalance = len(in.active) > 0
	}
	return d
}

// holdDepartures says how long to wait before acting on the departure of
// the members of cur missing from alive: each must have been missing for
// c.settle (a probe interval) first. Gossip reports a member gone that is
// not, for a moment, when a network partition heals: the member that was
// cut off spreads its old news that the others died, and each refutes it
// within a gossip round or two. A coordinator that promoted the backups of
// such a member at once made them owners while the member, which had not
// left in its own view, still served its partitions as owner: two owners,
// whose writes and journal numbers diverged. A member that has crashed
// pays one probe interval more before its backups take over. A member
// back in the view is as if it never left: if it goes missing again, its
// absence counts from then.
func (c *coordCore) holdDepartures(now time.Time, cur *partition.Table, alive []string) time.Duration {
	if cur == nil {
		clear(c.gone)
		return 0
	}
	members := cur.Members()
	for id := range c.gone {
		if !slices.Contains(members, id) || slices.Contains(alive, id) {
			delete(c.gone, id)
		}
	}
	var wait time.Duration
	for _, id := range members {
		if slices.Contains(alive, id) {
			continue
		}
		since, ok := c.gone[id]
		if !ok {
			since = now
			c.gone[id] = now
		}
		wait = max(wait, since.Add(c.settle).Sub(now))
	}
	return wait
}

// stragglers lists the members, other than self, that have not
// acknowledged version: members that joined, or missed a publish.
func stragglers(self string, members []string, acked map[string]uint64, version uint64) []string {
	var ids []string
	for _, id := range members {
		if id != self && acked[id] < version {
			ids = append(ids, id)
		}
	}
	return ids
}
