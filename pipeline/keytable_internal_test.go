package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// testKeyTable applies random puts, gets and deletes to a keyTable and to a
// Go map, and checks that they agree after every step.
func testKeyTable[K comparable](t *testing.T, key func(int) K, distinct int) {
	rng := rand.New(rand.NewPCG(1, uint64(distinct)))
	var kt keyTable[K]
	kt.init()
	ref := map[K]int32{}
	for step := range 20_000 {
		k := key(rng.IntN(distinct))
		switch op := rng.IntN(10); {
		case op < 5:
			if _, ok := ref[k]; !ok {
				ref[k] = int32(step)
				kt.put(k, int32(step))
			}
		case op < 8:
			delete(ref, k)
			kt.delete(k)
		default:
			if step%1000 == 0 {
				kt.reset()
				clear(ref)
			}
		}
		want, wantOK := ref[k]
		got, ok := kt.get(k)
		require.Equal(t, wantOK, ok, "step %d: key %v", step, k)
		require.Equal(t, want, got, "step %d: key %v", step, k)
		require.Equal(t, len(ref), kt.len())
	}
	for k, p := range kt.all() {
		require.Equal(t, ref[k], p)
	}
	for k, p := range ref {
		got, ok := kt.get(k)
		require.True(t, ok)
		require.Equal(t, p, got)
	}
}

func TestKeyTable(t *testing.T) {
	t.Parallel()
	type pair struct {
		A int16
		B string
	}
	for _, distinct := range []int{1, 7, 100, 5000} {
		t.Run(fmt.Sprint(distinct), func(t *testing.T) {
			t.Run("int64", func(t *testing.T) { testKeyTable(t, func(i int) int64 { return int64(i) << 20 }, distinct) })
			t.Run("int", func(t *testing.T) { testKeyTable(t, func(i int) int { return -i }, distinct) })
			t.Run("uint32", func(t *testing.T) { testKeyTable(t, func(i int) uint32 { return uint32(i * 7) }, distinct) })
			t.Run("string", func(t *testing.T) { testKeyTable(t, func(i int) string { return fmt.Sprint("k", i) }, distinct) })
			t.Run("struct", func(t *testing.T) {
				testKeyTable(t, func(i int) pair { return pair{A: int16(i % 3), B: fmt.Sprint(i)} }, distinct)
			})
		})
	}
	t.Run("empty", func(t *testing.T) { testKeyTable(t, func(int) struct{} { return struct{}{} }, 1) })
	t.Run("int8", func(t *testing.T) { testKeyTable(t, func(i int) int8 { return int8(i) }, 200) })
}
