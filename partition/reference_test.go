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

// A textbook min-cost flow, slow and simple, as the reference model for the
// backup placement: it knows nothing of Rebalance's greedy steps, paths and
// cycles, only what the result must be.

type flowEdge struct{ to, cap, cost, rev int }

type flowGraph struct{ adj [][]flowEdge }

func (g *flowGraph) add(from, to, cap, cost int) {
	g.adj[from] = append(g.adj[from], flowEdge{to, cap, cost, len(g.adj[to])})
	g.adj[to] = append(g.adj[to], flowEdge{from, 0, -cost, len(g.adj[from]) - 1})
}

// minCostFlow sends up to want units from s to t along successive cheapest
// paths (Bellman-Ford, as costs may be negative) and returns the flow and its
// cost.
func (g *flowGraph) minCostFlow(s, t, want int) (flow, cost int) {
	const inf = 1 << 60
	v := len(g.adj)
	for flow < want {
		dist := slices.Repeat([]int{inf}, v)
		prevNode := make([]int, v)
		prevEdge := make([]int, v)
		dist[s] = 0
		for changed := true; changed; {
			changed = false
			for a := range v {
				if dist[a] == inf {
					continue
				}
				for k, e := range g.adj[a] {
					if e.cap > 0 && dist[a]+e.cost < dist[e.to] {
						dist[e.to], prevNode[e.to], prevEdge[e.to] = dist[a]+e.cost, a, k
						changed = true
					}
				}
			}
		}
		if dist[t] == inf {
			return flow, cost
		}
		push := want - flow
		for b := t; b != s; b = prevNode[b] {
			push = min(push, g.adj[prevNode[b]][prevEdge[b]].cap)
		}
		for b := t; b != s; b = prevNode[b] {
			e := &g.adj[prevNode[b]][prevEdge[b]]
			e.cap -= push
			g.adj[b][e.rev].cap += push
		}
		flow += push
		cost += push * dist[t]
	}
	return flow, cost
}

// minBackupCopies is the fewest backups that must be copied in any table
// with target's owners, full rows and balanced backup loads, when the data
// sits where cur puts it.
func minBackupCopies(t testing.TB, cur, target *Table, live []string, backupCount int) int {
	t.Helper()
	live = sortedMembers(live)
	n, m := cur.Count(), len(live)
	if m == 0 || min(backupCount, m-1) == 0 {
		return 0
	}
	r := min(backupCount, m-1)
	low, high := n*r/m, ceilDiv(n*r, m)
	// Nodes: source, one per row, one per member, sink. A member's first
	// low units pay a large bonus, so any cheapest flow gives everyone at
	// least low.
	const bonus = 1 << 20
	s, sink := 0, 1+n+m
	g := &flowGraph{adj: make([][]flowEdge, 2+n+m)}
	for p := range n {
		g.add(s, 1+p, r, 0)
		for i, name := range live {
			if name == target.Owner(p) {
				continue
			}
			copyCost := 1
			if cur.ReplicaIndex(p, name) >= 0 {
				copyCost = 0
			}
			g.add(1+p, 1+n+i, 1, copyCost)
		}
	}
	for i := range m {
		g.add(1+n+i, sink, low, -bonus)
		g.add(1+n+i, sink, high-low, 0)
	}
	flow, cost := g.minCostFlow(s, sink, n*r)
	require.Equal(t, n*r, flow, "no balanced backup assignment exists")
	return cost + bonus*m*low
}

// backupCopies counts the backups of target that cur gives no copy of.
func backupCopies(cur, target *Table) int {
	copies := 0
	for p := range target.Count() {
		for _, b := range target.Backups(p) {
			if cur.ReplicaIndex(p, b) < 0 {
				copies++
			}
		}
	}
	return copies
}

// smallScenario is a scenario small enough for the reference model.
type smallScenario struct{ scenario }

// Generate implements quick.Generator.
func (smallScenario) Generate(src *randv1.Rand, _ int) reflect.Value {
	r := rand.New(rand.NewPCG(src.Uint64(), src.Uint64()))
	pool := memberNames(2 + r.IntN(7))
	n := 1 + r.IntN(40)
	rows := make([][]string, n)
	for p := range rows {
		perm := slices.Clone(pool)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		rows[p] = perm[:r.IntN(min(len(perm), 5)+1)]
	}
	cur, err := NewTable(1, rows)
	if err != nil {
		panic(err)
	}
	var live []string
	for _, m := range memberNames(len(pool) + 2) {
		if r.IntN(4) > 0 {
			live = append(live, m)
		}
	}
	return reflect.ValueOf(smallScenario{scenario{Cur: cur, Live: live, Backups: r.IntN(5)}})
}

// TestBackupCopiesAreMinimal checks that, for the owners it chose, Rebalance
// places backups with as few copies as any balanced placement allows.
func TestBackupCopiesAreMinimal(t *testing.T) {
	check := func(s smallScenario) bool {
		target := Rebalance(s.Cur, s.Live, s.Backups)
		want := minBackupCopies(t, s.Cur, target, s.Live, s.Backups)
		require.Equal(t, want, backupCopies(s.Cur, target), "copies for %v from %v", s.Live, s.Cur)
		return true
	}
	cfg := &quick.Config{MaxCount: 300, Rand: randv1.New(randv1.NewSource(2))}
	if testing.Short() {
		cfg.MaxCount = 50
	}
	require.NoError(t, quick.Check(check, cfg))
}
