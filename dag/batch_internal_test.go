package dag

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Only items that cannot point into the message they were decoded from let
// the receiver give the message back.
func TestEdgeTypesThatAlias(t *testing.T) {
	t.Parallel()
	type point struct {
		X, Y float64
		Tags [2]int32
	}
	type named struct {
		ID   int64
		Name string
	}
	for _, c := range []struct {
		e     edgeType
		alias bool
	}{
		{newEdgeType[int64](), false},
		{newEdgeType[float64](), false},
		{newEdgeType[bool](), false},
		{newEdgeType[point](), false},
		{newEdgeType[[4]uint8](), false},
		{newEdgeType[string](), true},
		{newEdgeType[[]byte](), true},
		{newEdgeType[named](), true},
		{newEdgeType[*int](), true},
		{newEdgeType[map[string]int](), true},
		{newEdgeType[any](), true},
		{newEdgeType[[1]string](), true},
	} {
		require.Equal(t, c.alias, c.e.aliases(), c.e.name())
	}
}
