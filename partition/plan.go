package partition

import (
	"fmt"
	"slices"
)

// Change is what must happen to one partition to go from the current table to
// a target one. Migration copies the partition from Source to every member in
// Added; once the target (or a table containing this row of it) is committed,
// the members in Removed may drop their copy.
type Change struct {
	Partition int
	// From and To are the rows before and after, owner first.
	From, To []string
	// Source is the current owner, which holds the authoritative copy, or ""
	// if the row was empty and there is nothing to copy. Callers Promote
	// before planning, so the current owner is live.
	Source string
	// Added lists the members of To not in From, in To's order.
	Added []string
	// Removed lists the members of From not in To, in From's order.
	Removed []string
	// OwnerChanged is set when the partition is served by another member
	// afterwards, which needs a hand-over even if no data moves.
	OwnerChanged bool
}

// Plan lists, ascending by partition, a Change for every partition whose row
// differs between cur and target, including a mere reordering of backups. It
// panics if the tables differ in partition count, which a cluster refuses at
// join time.
func Plan(cur, target *Table) []Change {
	if cur.Count() != target.Count() {
		panic(fmt.Sprintf("partition: Plan from %d partitions to %d", cur.Count(), target.Count()))
	}
	var changes []Change
	for p, from := range cur.rows {
		to := target.rows[p]
		if slices.Equal(from, to) {
			continue
		}
		c := Change{
			Partition:    p,
			From:         slices.Clone(from),
			To:           slices.Clone(to),
			Source:       cur.Owner(p),
			Added:        missingFrom(to, from),
			Removed:      missingFrom(from, to),
			OwnerChanged: cur.Owner(p) != target.Owner(p),
		}
		changes = append(changes, c)
	}
	return changes
}

// missingFrom lists the members of a not in b, in a's order.
func missingFrom(a, b []string) []string {
	var out []string
	for _, m := range a {
		if !slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}
