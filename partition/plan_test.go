package partition

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlan(t *testing.T) {
	cur, err := NewTable(4, [][]string{
		{"a", "b"},      // unchanged
		{"a", "b"},      // owner moves to a backup: no copy
		{"b", "a"},      // a new backup
		{},              // data lost: an empty owner, nothing to copy
		{"c", "a", "b"}, // backups reordered only
	})
	require.NoError(t, err)
	target, err := NewTable(5, [][]string{
		{"a", "b"},
		{"b", "a"},
		{"b", "c"},
		{"c", "a"},
		{"c", "b", "a"},
	})
	require.NoError(t, err)

	require.Equal(t, []Change{
		{Partition: 1, From: []string{"a", "b"}, To: []string{"b", "a"}, Source: "a", OwnerChanged: true},
		{Partition: 2, From: []string{"b", "a"}, To: []string{"b", "c"}, Source: "b", Added: []string{"c"}, Removed: []string{"a"}},
		{Partition: 3, To: []string{"c", "a"}, Source: "", Added: []string{"c", "a"}, OwnerChanged: true},
		{Partition: 4, From: []string{"c", "a", "b"}, To: []string{"c", "b", "a"}, Source: "c"},
	}, Plan(cur, target))

	require.Empty(t, Plan(cur, cur.WithVersion(9)))
	require.Panics(t, func() { Plan(cur, Initial(3, []string{"a"}, 0)) })
}
