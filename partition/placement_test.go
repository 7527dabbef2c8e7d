package partition

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPlacement(t *testing.T) {
	table := func(rows ...[]string) *Table {
		tb, err := NewTable(7, rows)
		require.NoError(t, err)
		return tb
	}
	cases := []struct {
		name    string
		t       *Table
		members []string
		backups int
		want    string // "" for no problem
	}{
		{"settled", table([]string{"a", "b"}, []string{"b", "a"}, []string{"a", "b"}), []string{"a", "b"}, 1, ""},
		{"backups capped by the members", table([]string{"a"}, []string{"a"}), []string{"a"}, 1, ""},
		{"a backup missing", table([]string{"a", "b"}, []string{"b"}), []string{"a", "b"}, 1, "partition 1 has 0 backups, want 1"},
		{"a replica gone", table([]string{"a", "c"}, []string{"b", "a"}), []string{"a", "b"}, 1, "partition 0 is held by c"},
		{"unbalanced", table([]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}), []string{"a", "b"}, 1, "members own 0 to 3 partitions"},
		{"a member owning nothing counts", table([]string{"a"}, []string{"a"}), []string{"a", "b"}, 0, "members own 0 to 2 partitions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.t.CheckPlacement(tc.members, tc.backups)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "table v7")
		})
	}
}
