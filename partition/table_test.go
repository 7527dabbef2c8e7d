package partition

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewTableValidates(t *testing.T) {
	for _, c := range []struct {
		name string
		rows [][]string
		ok   bool
	}{
		{"no partitions", nil, true},
		{"empty rows", [][]string{nil, {}}, true},
		{"owners and backups", [][]string{{"a", "b"}, {"b", "c", "a"}}, true},
		{"empty name", [][]string{{"a", ""}}, false},
		{"member twice", [][]string{{"a", "b"}, {"b", "c", "b"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTable(1, c.rows)
			if c.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidTable)
			}
		})
	}
}

func TestTableIsImmutable(t *testing.T) {
	rows := [][]string{{"a", "b"}, {"b", "a"}}
	tb, err := NewTable(3, rows)
	require.NoError(t, err)

	rows[0][0] = "x" // the caller's rows are copied
	require.Equal(t, "a", tb.Owner(0))

	tb.Replicas(0)[0] = "x" // so are the slices handed out
	tb.Backups(0)[0] = "x"
	tb.Members()[0] = "x"
	require.Equal(t, []string{"a", "b"}, tb.Replicas(0))
	require.Equal(t, []string{"a", "b"}, tb.Members())
}

func TestTableAccessors(t *testing.T) {
	tb, err := NewTable(7, [][]string{
		{"b", "a", "c"},
		{"a", "c"},
		{},
		{"c", "b"},
		{"a"},
	})
	require.NoError(t, err)

	require.Equal(t, uint64(7), tb.Version())
	require.Equal(t, 5, tb.Count())
	require.Equal(t, "b", tb.Owner(0))
	require.Equal(t, "", tb.Owner(2))
	require.Equal(t, []string{"b", "a", "c"}, tb.Replicas(0))
	require.Empty(t, tb.Replicas(2))
	require.Equal(t, []string{"a", "c"}, tb.Backups(0))
	require.Empty(t, tb.Backups(2))
	require.Empty(t, tb.Backups(4))

	require.Equal(t, 0, tb.ReplicaIndex(0, "b"))
	require.Equal(t, 2, tb.ReplicaIndex(0, "c"))
	require.Equal(t, -1, tb.ReplicaIndex(2, "a"))
	require.Equal(t, -1, tb.ReplicaIndex(4, "b"))

	require.Equal(t, []string{"a", "b", "c"}, tb.Members())
	require.Equal(t, []int{1, 4}, tb.Owned("a"))
	require.Equal(t, []int{0}, tb.BackedUp("a"))
	require.Equal(t, []int{0, 1}, tb.BackedUp("c"))
	require.Empty(t, tb.Owned("z"))

	require.Equal(t, "v7 5 partitions, 3 members, owned {a:2 b:1 c:1}, 1 without replica", tb.String())
}

func TestSameAssignmentIgnoresVersion(t *testing.T) {
	a, err := NewTable(1, [][]string{{"a", "b"}, {"b", "a"}})
	require.NoError(t, err)
	b := a.WithVersion(9)
	require.Equal(t, uint64(9), b.Version())
	require.Equal(t, uint64(1), a.Version())
	require.True(t, a.SameAssignment(b))

	// Backup order is part of the assignment: it is promotion order.
	c, err := NewTable(1, [][]string{{"a", "b"}, {"b"}})
	require.NoError(t, err)
	require.False(t, a.SameAssignment(c))
	d, err := NewTable(1, [][]string{{"a", "b"}})
	require.NoError(t, err)
	require.False(t, a.SameAssignment(d))
}

func TestWithRowsCommitsInBatches(t *testing.T) {
	cur := Initial(6, []string{"a", "b"}, 1)
	target := Rebalance(cur, []string{"a", "b", "c"}, 1)
	plan := Plan(cur, target)
	require.NotEmpty(t, plan)

	// Commit the plan one partition at a time: each step is a valid table
	// with the next version, and the last one is the target.
	tb := cur
	for _, c := range plan {
		tb = tb.WithRows(tb.Version()+1, target, []int{c.Partition})
		require.Equal(t, c.To, tb.Replicas(c.Partition))
	}
	require.True(t, tb.SameAssignment(target))
	require.Equal(t, cur.Version()+uint64(len(plan)), tb.Version())
	require.Equal(t, []string{"a", "b", "c"}, tb.Members())

	// The tables it was built from did not change.
	require.True(t, cur.SameAssignment(Initial(6, []string{"a", "b"}, 1)))
	require.Panics(t, func() { cur.WithRows(1, Initial(7, []string{"a"}, 0), nil) })
}

func TestNewTableFindsDuplicatesInLongRows(t *testing.T) {
	row := memberNames(40)
	_, err := NewTable(1, [][]string{row})
	require.NoError(t, err)
	row = append(row, row[17])
	_, err = NewTable(1, [][]string{row})
	require.ErrorIs(t, err, ErrInvalidTable)
}
