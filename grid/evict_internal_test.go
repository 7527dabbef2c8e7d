package grid

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Eviction must find a victim whenever the store holds an entry other than
// the one just added, wherever its random starting point falls: otherwise
// evictLocked gives up and the partition stays over its share of the limit.
func TestSampleLRUAlwaysFindsAVictim(t *testing.T) {
	t.Parallel()
	for size := 2; size <= 20; size++ {
		st := newStore("m", storeConfig{MaxEntries: 1})
		for i := range size {
			st.put(fmt.Sprint(i), record{}, 0, int64(i+1))
		}
		for range 200 {
			for i := range size {
				exclude := fmt.Sprint(i)
				victim, ok := sampleLRU(st, exclude)
				require.True(t, ok, "no victim among %d entries excluding %s", size, exclude)
				require.NotEqual(t, exclude, victim)
			}
		}
	}
}
