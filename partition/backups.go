package partition

import (
	"cmp"
	"slices"
)

// Backups are placed once owners are fixed, in steps:
//
//  1. Keep: every live replica that is not the new owner stays a backup of
//     its partition, former backups before the former owner, up to r a row.
//  2. Quotas: every member is to end with low or high backups (high = low+1
//     unless n*r divides evenly); the members keeping the most get the high
//     quotas.
//  3. Fill: empty slots go to members under quota.
//  4. Shed: members over quota hand backups to members under quota: first
//     to members still holding the data (free), then where the hand-off
//     evens out how an owner's backups spread over members, then anywhere.
//  5. Repair what the greedy steps could not place, by augmenting paths.
//  6. Cancel copies: trade planned copies for replicas members already hold
//     until no trade is left, which makes the copies the fewest possible.
//  7. Order each row so that owners fail over evenly.
//
// Steps 5 and 6 are in paths.go. Steps 1 to 4 are greedy and fast and leave
// the later ones little to do in the common cases (one member joins or
// leaves), which keeps Rebalance cheap.

// assignBackups fills pl.backups; owners must be assigned.
func (pl *planner) assignBackups() {
	if pl.r == 0 {
		return
	}
	total := pl.n * pl.r
	pl.low, pl.high = total/pl.m, (total+pl.m-1)/pl.m
	pl.backups = make([][]int, pl.n)
	pl.backupLoad = make([]int, pl.m)
	pl.pairs = make([]int, pl.m*pl.m)
	for p := range pl.backups {
		pl.backups[p] = make([]int, 0, pl.r)
	}

	pl.keep()
	quota := pl.backupQuotas()
	pl.fill(quota)
	// Free hand-offs first, then those that spread owners' backups out.
	pl.shed(quota, func(p, i, j int) bool { return pl.holds(p, j) })
	pl.shed(quota, func(p, i, j int) bool {
		o := pl.owner[p] * pl.m
		return pl.pairs[o+i] > pl.pairs[o+j]+1
	})
	pl.shed(quota, func(p, i, j int) bool { return true })
	pl.repair(quota)
	pl.cancelCopies()
	pl.orderBackups()
}

// keep makes every live replica of a partition a backup of it again, up to r:
// former backups in their order, then the former owner if it lost the
// partition. These need no copy.
func (pl *planner) keep() {
	for p, h := range pl.held {
		for _, i := range h[min(1, len(h)):] {
			pl.addIfRoom(p, i)
		}
	}
	for p, h := range pl.held {
		if len(h) > 0 {
			pl.addIfRoom(p, h[0])
		}
	}
}

// fill gives empty slots to members under quota, as leastLoaded picks, except
// that a member that can reach its quota only by joining every row with room
// left that it may join comes first. Otherwise such a member, already in most
// rows, finds the last of them taken, and each slot left over costs a chain
// of extra moves to repair.
func (pl *planner) fill(quota []int) {
	// open[i] counts the rows with an empty slot that member i may join.
	open := make([]int, pl.m)
	for p, bs := range pl.backups {
		if len(bs) < pl.r {
			for i := range open {
				if pl.eligible(p, i) {
					open[i]++
				}
			}
		}
	}
	for p, bs := range pl.backups {
		if len(bs) == pl.r {
			continue
		}
		for len(bs) < pl.r {
			i := pl.pick(p, quota, func(j int) int {
				if open[j] <= quota[j]-pl.backupLoad[j] {
					return 0 // urgent
				}
				return 1
			})
			if i < 0 {
				break
			}
			pl.add(p, i)
			bs = pl.backups[p]
			open[i]--
		}
		// Filled or not, the row is behind us now.
		for j := range open {
			if pl.eligible(p, j) {
				open[j]--
			}
		}
	}
}

// shed moves backups off members over quota, row by row, to the member
// leastLoaded picks, where accept agrees.
func (pl *planner) shed(quota []int, accept func(p, from, to int) bool) {
	for p, bs := range pl.backups {
		// Backwards, so that the first backups, which owners fail over to,
		// are the last to change.
		for k := len(bs) - 1; k >= 0; k-- {
			i := bs[k]
			if pl.backupLoad[i] <= quota[i] {
				continue
			}
			if j := pl.leastLoaded(p, quota); j >= 0 && accept(p, i, j) {
				pl.remove(p, i)
				pl.add(p, j)
			}
		}
	}
}

// backupQuotas sets each member's target backup count, low or high, giving
// the total%m high quotas to the members keeping the most backups, as
// assignOwners does for owners, so the fewest backups have to move.
func (pl *planner) backupQuotas() []int {
	byLoad := make([]int, pl.m)
	for i := range byLoad {
		byLoad[i] = i
	}
	slices.SortStableFunc(byLoad, func(a, b int) int { return cmp.Compare(pl.backupLoad[b], pl.backupLoad[a]) })
	quota := make([]int, pl.m)
	extra := pl.n * pl.r % pl.m
	for rank, i := range byLoad {
		quota[i] = pl.low
		if rank < extra {
			quota[i]++
		}
	}
	return quota
}

// eligible reports whether member i may become a backup of partition p.
func (pl *planner) eligible(p, i int) bool {
	return i != pl.owner[p] && !slices.Contains(pl.backups[p], i)
}

func (pl *planner) addIfRoom(p, i int) {
	if len(pl.backups[p]) < pl.r && pl.eligible(p, i) {
		pl.add(p, i)
	}
}

func (pl *planner) add(p, i int) {
	pl.backups[p] = append(pl.backups[p], i)
	pl.backupLoad[i]++
	pl.pairs[pl.owner[p]*pl.m+i]++
}

// remove keeps the order of the other backups, which is promotion order.
func (pl *planner) remove(p, i int) {
	k := slices.Index(pl.backups[p], i)
	pl.backups[p] = slices.Delete(pl.backups[p], k, k+1)
	pl.backupLoad[i]--
	pl.pairs[pl.owner[p]*pl.m+i]--
}

// leastLoaded picks a member under its limit (if limit is not nil) that may
// back up p: one that holds p's data if any, as that needs no copy; then the
// one with the fewest backups; then the one backing up the fewest of the
// owner's partitions, so that a dead owner's partitions spread over many
// survivors; then the one closest after the owner in name order, so that a
// fresh table comes out in a regular pattern.
func (pl *planner) leastLoaded(p int, limit []int) int {
	return pl.pick(p, limit, nil)
}

// pick is leastLoaded, ranking first by rank(i) (if rank is not nil).
func (pl *planner) pick(p int, limit []int, rank func(i int) int) int {
	o := pl.owner[p]
	best, bestKey := -1, [5]int{}
	for i, load := range pl.backupLoad {
		if limit != nil && load >= limit[i] || !pl.eligible(p, i) {
			continue
		}
		copies := 1
		if pl.holds(p, i) {
			copies = 0
		}
		key := [5]int{0, copies, load, pl.pairs[o*pl.m+i], (i - o + pl.m) % pl.m}
		if rank != nil {
			key[0] = rank(i)
		}
		if best < 0 || less(key, bestKey) {
			best, bestKey = i, key
		}
	}
	return best
}

func less(a, b [5]int) bool {
	for k := range a {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return false
}

// orderBackups chooses each row's first backup, the member that takes over if
// the owner dies. For every owner x, the partitions x would leave behind
// should land so that the survivors end up owning about as many as each
// other; then the table Promote makes after a crash is nearly balanced, and
// the rebalance that follows moves little. A local search gets there: it
// moves a backup to the front of a row while that lowers the spread of
// owned(y) + first(x, y) over the backups y, which strictly decreases a sum of
// squares and so must end. A table that is already fine is left as it is.
func (pl *planner) orderBackups() {
	m := pl.m
	owned := make([]int, m)
	first := make([]int, m*m) // first[x*m+y]: rows of x whose first backup is y
	for p, x := range pl.owner {
		owned[x]++
		first[x*m+pl.backups[p][0]]++
	}
	// after is how many partitions y would own once promoted over x.
	after := func(x, y int) int { return owned[y] + first[x*m+y] }
	for changed := true; changed; {
		changed = false
		for p, x := range pl.owner {
			bs := pl.backups[p]
			best := 0
			for k := 1; k < len(bs); k++ {
				if after(x, bs[k]) < after(x, bs[best]) {
					best = k
				}
			}
			if after(x, bs[0])-after(x, bs[best]) < 2 {
				continue
			}
			first[x*m+bs[0]]--
			first[x*m+bs[best]]++
			y := bs[best]
			copy(bs[1:best+1], bs[:best])
			bs[0] = y
			changed = true
		}
	}
}
