package partition

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalidTable is returned, wrapped with the reason, for a table whose rows
// break the table invariants or whose wire form cannot be decoded.
var ErrInvalidTable = errors.New("partition: invalid table")

// Table assigns every partition an ordered row of replicas: the owner first,
// then its backups in the order they would be promoted. It is an immutable
// value: it is shared between goroutines and swapped whole, so no method
// mutates it and every slice handed out is a copy.
type Table struct {
	version uint64
	// rows[p][0] is the owner of partition p and rows[p][1:] its backups. A row
	// never holds "" or a member twice; an empty row is a partition without
	// any replica, whose data is lost. Rows may be shared between tables,
	// which is safe because no one writes to them after construction.
	rows [][]string
	// members is the sorted set of names in rows, computed once because
	// callers ask for it on every membership change.
	members []string
}

// NewTable builds a table from rows, where rows[p] lists the replicas of
// partition p, owner first. It copies rows, so the caller may reuse them.
func NewTable(version uint64, rows [][]string) (*Table, error) {
	if err := validateRows(rows); err != nil {
		return nil, err
	}
	cp := make([][]string, len(rows))
	for p, row := range rows {
		cp[p] = slices.Clone(row)
	}
	return newTable(version, cp), nil
}

// newTable takes ownership of rows, which must already be valid.
func newTable(version uint64, rows [][]string) *Table {
	for p, row := range rows {
		if len(row) == 0 {
			rows[p] = nil // one form for "no replica", so copies compare equal
		}
	}
	return &Table{version: version, rows: rows, members: distinctMembers(rows)}
}

func validateRows(rows [][]string) error {
	// Rows are short, so a quadratic scan is fastest; a decoded row can be
	// long, and must not make validation quadratic.
	var seen map[string]struct{}
	for p, row := range rows {
		if len(row) > 16 {
			if seen == nil {
				seen = make(map[string]struct{}, len(row))
			}
			clear(seen)
		}
		for i, m := range row {
			if m == "" {
				return fmt.Errorf("%w: partition %d: empty member name", ErrInvalidTable, p)
			}
			dup := false
			if len(row) > 16 {
				_, dup = seen[m]
				seen[m] = struct{}{}
			} else {
				dup = slices.Contains(row[:i], m)
			}
			if dup {
				return fmt.Errorf("%w: partition %d: member %q appears twice", ErrInvalidTable, p, m)
			}
		}
	}
	return nil
}

func distinctMembers(rows [][]string) []string {
	// A set first: rows repeat a few names many times, and sorting only
	// the distinct ones is much cheaper than sorting them all.
	seen := make(map[string]struct{})
	var members []string
	for _, row := range rows {
		for _, m := range row {
			if _, ok := seen[m]; !ok {
				seen[m] = struct{}{}
				members = append(members, m)
			}
		}
	}
	slices.Sort(members)
	return members
}

// Version orders tables: members apply a table only if it is newer than the
// one they hold.
func (t *Table) Version() uint64 { return t.version }

// Count is the number of partitions.
func (t *Table) Count() int { return len(t.rows) }

// Owner is the member that serves partition p, or "" if p has no replica.
func (t *Table) Owner(p int) string {
	if len(t.rows[p]) == 0 {
		return ""
	}
	return t.rows[p][0]
}

// Replicas lists the members holding partition p, owner first.
func (t *Table) Replicas(p int) []string { return slices.Clone(t.rows[p]) }

// Backups lists the backups of partition p in promotion order.
func (t *Table) Backups(p int) []string {
	if len(t.rows[p]) == 0 {
		return nil
	}
	return slices.Clone(t.rows[p][1:])
}

// ReplicaIndex is member's position in the row of partition p: 0 for the
// owner, i for the i-th backup, -1 if it holds no replica of p.
func (t *Table) ReplicaIndex(p int, member string) int {
	return slices.Index(t.rows[p], member)
}

// Members lists, sorted, every member that holds at least one replica.
func (t *Table) Members() []string { return slices.Clone(t.members) }

// Owned lists, ascending, the partitions member owns.
func (t *Table) Owned(member string) []int {
	var ps []int
	for p, row := range t.rows {
		if len(row) > 0 && row[0] == member {
			ps = append(ps, p)
		}
	}
	return ps
}

// BackedUp lists, ascending, the partitions member holds a backup of.
func (t *Table) BackedUp(member string) []int {
	var ps []int
	for p, row := range t.rows {
		if i := slices.Index(row, member); i > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// SameAssignment reports whether o assigns every partition the same row, in
// the same order, whatever the versions.
func (t *Table) SameAssignment(o *Table) bool {
	return slices.EqualFunc(t.rows, o.rows, slices.Equal[[]string])
}

// WithVersion is t under another version, for republishing an assignment.
func (t *Table) WithVersion(v uint64) *Table {
	return &Table{version: v, rows: t.rows, members: t.members}
}

// WithRows is t with the rows of parts taken from from, under version. A
// coordinator commits a migration plan in batches this way, so the table
// never points at a replica that has not received its copy yet. It panics if
// the tables differ in partition count or a partition is out of range.
func (t *Table) WithRows(version uint64, from *Table, parts []int) *Table {
	if from.Count() != t.Count() {
		panic(fmt.Sprintf("partition: WithRows from a table of %d partitions into one of %d", from.Count(), t.Count()))
	}
	rows := slices.Clone(t.rows)
	for _, p := range parts {
		rows[p] = from.rows[p]
	}
	return newTable(version, rows)
}

// String summarizes t for logs: version, size and how many partitions each
// member owns, e.g. "v7 271 partitions, 3 members, owned {a:91 b:90 c:90}".
func (t *Table) String() string {
	owned := make([]int, len(t.members))
	orphans := 0
	for _, row := range t.rows {
		if len(row) == 0 {
			orphans++
			continue
		}
		i, _ := slices.BinarySearch(t.members, row[0])
		owned[i]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v%d %d partitions, %d members, owned {", t.version, len(t.rows), len(t.members))
	for i, m := range t.members {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", m, owned[i])
	}
	b.WriteByte('}')
	if orphans > 0 {
		fmt.Fprintf(&b, ", %d without replica", orphans)
	}
	return b.String()
}
