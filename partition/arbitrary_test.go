package partition

import (
	randv1 "math/rand"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/require"
)

// scenario is an arbitrary starting point: any valid table, not necessarily
// one Rebalance made, with members that may have died, rows of any length
// including empty ones, and live members the table has never seen.
type scenario struct {
	Cur     *Table
	Live    []string
	Backups int
}

// Generate implements quick.Generator. testing/quick hands out a math/rand
// source; it only seeds the math/rand/v2 one the rest of the tests use.
func (scenario) Generate(src *randv1.Rand, _ int) reflect.Value {
	r := rand.New(rand.NewPCG(src.Uint64(), src.Uint64()))
	pool := memberNames(1 + r.IntN(12))
	n := []int{1, 2, 5, 16, 64, DefaultCount}[r.IntN(6)]
	rows := make([][]string, n)
	for p := range rows {
		perm := slices.Clone(pool)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		rows[p] = perm[:r.IntN(min(len(perm), 5)+1)]
	}
	cur, err := NewTable(r.Uint64N(100), rows)
	if err != nil {
		panic(err)
	}
	var live []string
	for _, m := range memberNames(len(pool) + 3) {
		if r.IntN(3) > 0 {
			live = append(live, m)
		}
	}
	return reflect.ValueOf(scenario{Cur: cur, Live: live, Backups: r.IntN(5)})
}

// TestRebalanceFromAnyTable checks Rebalance's promises from arbitrary
// tables, which reach states membership histories rarely do: skewed loads,
// short and overlong rows, many dead members at once.
func TestRebalanceFromAnyTable(t *testing.T) {
	check := func(s scenario) bool {
		target := Rebalance(s.Cur, s.Live, s.Backups)
		requireBalanced(t, target, s.Live, s.Backups)
		require.Equal(t, minOwnerMoves(s.Cur, s.Live), ownerMoves(s.Cur, target, s.Live))
		require.True(t, target.SameAssignment(Rebalance(s.Cur, s.Live, s.Backups)))
		require.Empty(t, Plan(target, Rebalance(target, s.Live, s.Backups)))
		return true
	}
	cfg := &quick.Config{MaxCount: 400, Rand: randv1.New(randv1.NewSource(1))}
	if testing.Short() {
		cfg.MaxCount = 50
	}
	require.NoError(t, quick.Check(check, cfg))
}
