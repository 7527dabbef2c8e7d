package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
)

// A sort's saved items are broadcast entries, restored to every instance:
// only the instance all items meet on keeps them (it used to be every
// member's, and a restore on 2 members emitted 100 items as 114).
func TestSortRestoresOnItsOneInstance(t *testing.T) {
	t.Parallel()
	k, err := keys.Encode(0)
	require.NoError(t, err)
	v, err := keys.Encode([]Timed[int]{{TS: 1, V: 7}, {TS: 2, V: 3}})
	require.NoError(t, err)
	for _, tc := range []struct {
		index int
		want  []Timed[int]
	}{{0, []Timed[int]{{TS: 1, V: 7}, {TS: 2, V: 3}}}, {1, nil}, {3, nil}} {
		p := &sortP[int]{ctxIndex: tc.index}
		require.NoError(t, p.RestoreSnapshot(k, v))
		require.Equal(t, tc.want, p.items, "instance %d", tc.index)
	}
}
