package grid_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/member"
)

// ownerOf returns the member that owns key k in m's current table.
func ownerOf(t testing.TB, m *member.Member, k any) string {
	kb, err := keys.Encode(k)
	require.NoError(t, err)
	return m.Partitions().Owner(keys.Partition(kb, m.PartitionCount()))
}
