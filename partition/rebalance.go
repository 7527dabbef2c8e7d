package partition

import (
	"cmp"
	"slices"
)

// Initial assigns n partitions to members with backupCount backups each (fewer
// if there are not enough members), balanced, as version 1. It is Rebalance
// from a table where nothing is assigned yet, so a cluster's first table
// follows the same rules as every later one.
func Initial(n int, members []string, backupCount int) *Table {
	if n < 0 {
		panic("partition: negative partition count")
	}
	return Rebalance(newTable(0, make([][]string, n)), members, backupCount)
}

// Rebalance computes the table the cluster should converge to when live are
// the members that hold data, as version cur.Version()+1. Every partition gets
// an owner (if live is not empty) and min(backupCount, len(live)-1) backups,
// all distinct live members. Each member owns within one partition of every
// other, and holds within one backup of every other.
//
// Among balanced tables it prefers the one closest to cur: a member keeps
// what it owns unless it owns more than its share, so the fewest partitions
// change owner; a partition that needs a new owner goes to a member that
// already has a replica of it if one has room, so ownership moves without
// copying data; and backups are placed with the fewest copies those owners
// allow. Within each row, backups are ordered so that if the owner dies its
// partitions spread evenly over the survivors. Members of cur not in live
// are treated as gone: Rebalance(cur, live) assigns like
// Rebalance(Promote(cur, live), live).
//
// The result depends only on the arguments, never on map order or time, so
// every member computing it gets the same table. Rebalance of its own result
// with the same arguments changes nothing.
func Rebalance(cur *Table, live []string, backupCount int) *Table {
	if backupCount < 0 {
		panic("partition: negative backup count")
	}
	names := sortedMembers(live)
	rows := make([][]string, cur.Count())
	if len(names) > 0 {
		pl := newPlanner(cur, names, backupCount)
		pl.assignOwners()
		pl.assignBackups()
		rows = pl.rows()
	}
	return newTable(cur.Version()+1, rows)
}

// planner holds one Rebalance computation. Members are indexes into names so
// the inner loops compare ints and index slices instead of hashing strings.
type planner struct {
	names []string
	n, m  int
	// r is the number of backups each row gets.
	r int
	// held[p] lists the live members with a replica of p in the current
	// table, in row order: they can take p over without a copy.
	held [][]int
	// owner[p] and backups[p] are the row being built.
	owner   []int
	backups [][]int
	// backupLoad[i] counts the rows member i is a backup in.
	backupLoad []int
	// Every member must end with between low and high backups.
	low, high int
	// pairs[o*m+i] counts the rows owned by o that i backs up.
	pairs []int
}

func newPlanner(cur *Table, names []string, backupCount int) *planner {
	n, m := cur.Count(), len(names)
	pl := &planner{
		names: names,
		n:     n,
		m:     m,
		r:     min(backupCount, m-1),
		held:  make([][]int, n),
	}
	// Translate cur's members once, not every occurrence in every row.
	index := make(map[string]int, len(cur.members))
	for _, name := range cur.members {
		if i, ok := slices.BinarySearch(names, name); ok {
			index[name] = i
		}
	}
	for p, row := range cur.rows {
		for _, name := range row {
			if i, ok := index[name]; ok {
				pl.held[p] = append(pl.held[p], i)
			}
		}
	}
	return pl
}

// holds reports whether member i has a copy of partition p already.
func (pl *planner) holds(p, i int) bool { return slices.Contains(pl.held[p], i) }

// assignOwners gives each member n/m or n/m+1 partitions, moving as few as
// possible. Each partition's candidate is its first live replica (its owner,
// or the backup Promote would pick). The members with the most candidates get
// the n%m larger quotas, which makes the number of partitions that must change
// owner the smallest any balanced table allows. Members over quota then hand
// partitions over, first to under-quota members that hold a replica of them
// (no copy), and the rest, with the partitions that lost every replica, go to
// whoever is still under quota.
func (pl *planner) assignOwners() {
	n, m := pl.n, pl.m
	want := make([]int, m)
	for _, h := range pl.held {
		if len(h) > 0 {
			want[h[0]]++
		}
	}
	byWant := make([]int, m)
	for i := range byWant {
		byWant[i] = i
	}
	slices.SortStableFunc(byWant, func(a, b int) int { return cmp.Compare(want[b], want[a]) })
	surplus := make([]int, m)
	deficit := make([]int, m)
	for rank, i := range byWant {
		quota := n / m
		if rank < n%m {
			quota++
		}
		surplus[i] = max(0, want[i]-quota)
		deficit[i] = max(0, quota-want[i])
	}

	owner := make([]int, n)
	for p, h := range pl.held {
		owner[p] = -1
		if len(h) == 0 || surplus[h[0]] == 0 {
			continue
		}
		for _, j := range h[1:] {
			if deficit[j] > 0 {
				owner[p] = j
				surplus[h[0]]--
				deficit[j]--
				break
			}
		}
	}
	// The rest of each surplus goes too, picked so that the partitions a
	// member keeps, and those it gives up, each spread evenly over the
	// members next in line behind it: those take over if the new owner dies,
	// and a crash should not pile work on one of them.
	dropped := make([]bool, n)
	droppedBefore := make([]int, m+1) // by next in line; m for nobody
	groups := make([][]int, m+1)
	for x := range m {
		if surplus[x] == 0 {
			continue
		}
		for y := range groups {
			groups[y] = groups[y][:0]
		}
		for p, h := range pl.held {
			if owner[p] < 0 && len(h) > 0 && h[0] == x {
				y := m
				if len(h) > 1 {
					y = h[1]
				}
				groups[y] = append(groups[y], p)
			}
		}
		for ; surplus[x] > 0; surplus[x]-- {
			best := -1
			for y, g := range groups {
				if len(g) > 0 && (best < 0 || len(g) > len(groups[best]) ||
					len(g) == len(groups[best]) && droppedBefore[y] < droppedBefore[best]) {
					best = y
				}
			}
			dropped[groups[best][0]] = true
			groups[best] = groups[best][1:]
			droppedBefore[best]++
		}
	}
	var pool []int
	for p, h := range pl.held {
		switch {
		case owner[p] >= 0:
		case len(h) == 0 || dropped[p]:
			pool = append(pool, p)
		default:
			owner[p] = h[0]
		}
	}
	// No member under quota holds a replica of a pooled partition (the first
	// pass would have matched it), so any choice costs one copy; taking the
	// largest deficit first deals an empty table out round-robin.
	for _, p := range pool {
		best := -1
		for j, d := range deficit {
			if d > 0 && (best < 0 || d > deficit[best]) {
				best = j
			}
		}
		owner[p] = best
		deficit[best]--
	}
	pl.owner = owner
}

func (pl *planner) rows() [][]string {
	rows := make([][]string, pl.n)
	for p := range rows {
		row := make([]string, 0, 1+pl.r)
		row = append(row, pl.names[pl.owner[p]])
		if pl.backups != nil {
			for _, i := range pl.backups[p] {
				row = append(row, pl.names[i])
			}
		}
		rows[p] = row
	}
	return rows
}
