package dag

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Job IDs made in a row sort in the order they were made, even within one
// millisecond (the list sink reads jobs in ID order).
func TestJobIDsSortBySubmission(t *testing.T) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = newJobID()
	}
	require.True(t, slices.IsSorted(ids))
	require.Len(t, slices.Compact(slices.Clone(ids)), len(ids))
}
