package partition

import (
	"math"
	"slices"
)

// When greedy placement gets stuck, backups are moved along augmenting paths
// in the graph whose nodes are members and where an edge a->b means "b can
// take over one of a's backups" (b is not yet in that row and does not own
// it). A path from a member with one backup too many to a member with room
// moves one unit of load without changing anyone else's; a path from an
// empty slot fills it. If some balanced assignment exists, the difference
// between it and the current one decomposes into such paths (and cycles), so
// a search that finds no path proves the problem cannot be fixed; each path
// found fixes one unit, so the repairs end.
//
// Among paths, the cheapest in copies wins (Dijkstra over members, with the
// costs of moveCost), and cancelCopies then removes any copy that a cycle of
// hand-offs can still save.

// repair fills the slots and evens out the loads that the greedy steps left:
// every row full, every member between low and high.
func (pl *planner) repair(quota []int) {
	high := slices.Repeat([]int{pl.high}, pl.m)
	for p := range pl.backups {
		for len(pl.backups[p]) < pl.r {
			// The quotas are a guess at which members take the extra
			// backups; if they cannot all be met, any balanced outcome will
			// do.
			if pl.fillByPath(p, quota) || pl.fillByPath(p, high) {
				continue
			}
			// Never seen, and impossible while a balanced assignment
			// exists; if one does not, a full row matters more than balance.
			i := pl.leastLoaded(p, nil)
			if i < 0 {
				break
			}
			pl.add(p, i)
		}
	}
	for i := range pl.backupLoad {
		for pl.backupLoad[i] > quota[i] && pl.shedByPath(i, quota) {
		}
		for pl.backupLoad[i] > pl.high && pl.shedByPath(i, high) {
		}
	}
	for i := range pl.backupLoad {
		for pl.backupLoad[i] < pl.low && pl.raiseByPath(i) {
		}
	}
}

// moveCost prices member to replacing member from (-1 for an empty slot) as a
// backup of p. What counts is copies: 2 for a move that makes a copy no one
// had planned; 1 for one that only hands a planned copy to another member or
// swaps one holder of the data for another, as paths should still be short;
// 0 for one that saves a planned copy, which is really a gain, but Dijkstra
// needs costs that are not negative.
func (pl *planner) moveCost(p, from, to int) int {
	switch toHolds := pl.holds(p, to); {
	case from < 0:
		if toHolds {
			return 0
		}
		return 2
	case pl.holds(p, from):
		if toHolds {
			return 1
		}
		return 2
	case toHolds:
		return 0
	default:
		return 1
	}
}

// handOff offers every move by which some member b takes over one of a's
// backups: the continuation of a path at a member that has one too many.
func (pl *planner) handOff(a int, relax func(to, part, cost int)) {
	for q, bs := range pl.backups {
		if !slices.Contains(bs, a) {
			continue
		}
		for b := range pl.m {
			if pl.eligible(q, b) {
				relax(b, q, pl.moveCost(q, a, b))
			}
		}
	}
}

// fillByPath fills one empty slot of p: a member joins p, and then, while the
// last member to gain a backup is at its limit, it hands one of its backups
// to another member. Returns false if no path ends below a limit.
func (pl *planner) fillByPath(p int, limit []int) bool {
	end, tree := pl.cheapestPath(
		func(seed func(to, part, cost int)) {
			for b := range pl.m {
				if pl.eligible(p, b) {
					seed(b, p, pl.moveCost(p, -1, b))
				}
			}
		},
		pl.handOff,
		func(b int) bool { return pl.backupLoad[b] < limit[b] },
	)
	if end < 0 {
		return false
	}
	pl.applyHandOffs(end, -1, tree)
	return true
}

// shedByPath takes one backup off member i, which is over its limit: i hands
// one to another member, which passes one on while it is at its limit.
// Returns false if no path ends below a limit.
func (pl *planner) shedByPath(i int, limit []int) bool {
	end, tree := pl.cheapestPath(
		func(seed func(to, part, cost int)) { seed(i, -1, 0) },
		pl.handOff,
		func(b int) bool { return b != i && pl.backupLoad[b] < limit[b] },
	)
	if end < 0 {
		return false
	}
	pl.applyHandOffs(end, i, tree)
	return true
}

// applyHandOffs walks a hand-off path back from end to start, where each
// member b took tree[b].part from the member before it (or, for the first,
// filled an empty slot). Applying the moves in this order is safe because a
// simple path never adds or removes the same member twice.
func (pl *planner) applyHandOffs(end, start int, tree []pathNode) {
	for b := end; b != start; b = tree[b].prev {
		if prev := tree[b].prev; prev >= 0 {
			pl.remove(tree[b].part, prev)
		}
		pl.add(tree[b].part, b)
	}
}

// raiseByPath gives member j, which has fewer than low backups, one more:
// j takes a backup from a member, and then, while the last member to lose one
// is at or below low, it takes another from someone else. Returns false if no
// path ends above low.
func (pl *planner) raiseByPath(j int) bool {
	end, tree := pl.cheapestPath(
		func(seed func(to, part, cost int)) { seed(j, -1, 0) },
		// a needs a backup: it takes one from any member b holding one a
		// may take.
		func(a int, relax func(to, part, cost int)) {
			for q, bs := range pl.backups {
				if !pl.eligible(q, a) {
					continue
				}
				for _, b := range bs {
					relax(b, q, pl.moveCost(q, b, a))
				}
			}
		},
		func(b int) bool { return b != j && pl.backupLoad[b] > pl.low },
	)
	if end < 0 {
		return false
	}
	// Here the member before b took tree[b].part from b.
	for b := end; b != j; b = tree[b].prev {
		pl.remove(tree[b].part, b)
		pl.add(tree[b].part, tree[b].prev)
	}
	return true
}

// pathNode is how the search reached a member: by a move on partition part
// that involves the member before it on the path, prev (-1 for a seed).
type pathNode struct {
	dist, part, prev int
	settled          bool
}

// cheapestPath runs Dijkstra over members. seeds offers the members a path
// may start at, expand the moves that continue a path at member a, and done
// says whether a member can end a path. It returns the cheapest end, or -1,
// and the search tree. Costs are never negative, so the tree's paths are
// simple; ties go to the lowest member index, so the result is
// deterministic. Members are few (tens), so a linear scan beats a heap.
func (pl *planner) cheapestPath(
	seeds func(seed func(to, part, cost int)),
	expand func(a int, relax func(to, part, cost int)),
	done func(b int) bool,
) (int, []pathNode) {
	tree := make([]pathNode, pl.m)
	for i := range tree {
		tree[i] = pathNode{dist: math.MaxInt, part: -1, prev: -1}
	}
	reach := func(to, part, prev, dist int) {
		if !tree[to].settled && dist < tree[to].dist {
			tree[to] = pathNode{dist: dist, part: part, prev: prev}
		}
	}
	seeds(func(to, part, cost int) { reach(to, part, -1, cost) })
	for {
		a := -1
		for i, nd := range tree {
			if !nd.settled && nd.dist != math.MaxInt && (a < 0 || nd.dist < tree[a].dist) {
				a = i
			}
		}
		if a < 0 {
			return -1, tree
		}
		tree[a].settled = true
		if done(a) {
			return a, tree
		}
		expand(a, func(to, part, cost int) { reach(to, part, a, tree[a].dist+cost) })
	}
}

// cancelCopies makes the backup assignment need as few copies as any with
// the same owners and balanced loads, by the classic optimality condition of
// min-cost flow: an assignment is cheapest when no cycle of hand-offs (a
// backup of a goes to b, one of b's goes to c, ..., one goes back to a)
// saves copies. A hand-off saves one when it removes a planned copy and costs
// one when it plans a new copy. A virtual member z lets a cycle pass the
// extra backup from a member at high to one at low, which keeps the loads
// balanced. Each cycle found and applied saves at least one copy, so this
// ends; the greedy steps before leave few, usually none.
func (pl *planner) cancelCopies() {
	if !pl.anyFreshBackup() {
		return // nothing to save
	}
	m := pl.m
	z, v := m, m+1
	cost := make([]int, v*v)
	via := make([]int, v*v)
	takers := make([]int, 0, m)
	for {
		for k := range cost {
			cost[k] = math.MaxInt
		}
		for q, bs := range pl.backups {
			takers = takers[:0]
			for b := range m {
				if pl.eligible(q, b) {
					takers = append(takers, b)
				}
			}
			for _, a := range bs {
				saved := 0
				if !pl.holds(q, a) {
					saved = 1
				}
				for _, b := range takers {
					c := -saved
					if !pl.holds(q, b) {
						c++
					}
					if c < cost[a*v+b] {
						cost[a*v+b], via[a*v+b] = c, q
					}
				}
			}
		}
		for b, load := range pl.backupLoad {
			if load < pl.high {
				cost[b*v+z] = 0
			}
			if load > pl.low {
				cost[z*v+b] = 0
			}
		}
		cycle := negativeCycle(v, cost)
		if cycle == nil {
			return
		}
		for k, a := range cycle {
			b := cycle[(k+1)%len(cycle)]
			if a == z || b == z {
				continue
			}
			q := via[a*v+b]
			pl.remove(q, a)
			pl.add(q, b)
		}
	}
}

func (pl *planner) anyFreshBackup() bool {
	for q, bs := range pl.backups {
		for _, a := range bs {
			if !pl.holds(q, a) {
				return true
			}
		}
	}
	return false
}

// negativeCycle returns the nodes of a cycle of negative total cost in the
// complete graph of v nodes whose edge costs are cost[a*v+b] (math.MaxInt for
// no edge), in order, or nil if there is none. It is Bellman-Ford from a
// virtual source linked to every node: a node still improving after v rounds
// leads back into a negative cycle along the predecessors.
func negativeCycle(v int, cost []int) []int {
	dist := make([]int, v)
	pred := make([]int, v)
	for i := range pred {
		pred[i] = -1
	}
	last := -1
	for range v {
		last = -1
		for a := range v {
			for b := range v {
				c := cost[a*v+b]
				if c == math.MaxInt || a == b {
					continue
				}
				if dist[a]+c < dist[b] {
					dist[b], pred[b], last = dist[a]+c, a, b
				}
			}
		}
		if last < 0 {
			return nil
		}
	}
	for range v {
		last = pred[last]
	}
	cycle := []int{last}
	for a := pred[last]; a != last; a = pred[a] {
		cycle = append(cycle, a)
	}
	slices.Reverse(cycle)
	return cycle
}
