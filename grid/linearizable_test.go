package grid_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// A linearizable register per key: the model porcupine checks histories of
// Map operations against.

type kvOp uint8

const (
	kvGet kvOp = iota
	kvPut
	kvDelete
	kvCAS
)

type kvInput struct {
	Op  kvOp
	Key string
	Val int // Put: the value; CAS: the new value
	Old int // CAS: the expected value
}

type kvOutput struct {
	Val     int  // Get
	Found   bool // Get
	Swapped bool // CAS
	// Unknown: the call failed, so it may or may not have taken effect; its
	// return is at the end of the history.
	Unknown bool
}

type kvState struct {
	Val     int
	Present bool
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		switch in.Op {
		case kvGet:
			if out.Unknown {
				return true, s
			}
			if out.Found != s.Present || (s.Present && out.Val != s.Val) {
				return false, s
			}
			return true, s
		case kvPut:
			return true, kvState{Val: in.Val, Present: true}
		case kvDelete:
			// Delete of an absent key is not an error: always legal.
			return true, kvState{}
		case kvCAS:
			// CompareAndSwap stores only over a present, equal value.
			matches := s.Present && s.Val == in.Old
			if !out.Unknown && out.Swapped != matches {
				return false, s
			}
			if matches {
				return true, kvState{Val: in.Val, Present: true}
			}
			return true, s
		}
		panic(fmt.Sprintf("unknown op %d", in.Op))
	},
	Equal: func(a, b any) bool { return a.(kvState) == b.(kvState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := ""
		switch in.Op {
		case kvGet:
			res = fmt.Sprintf("get(%s) -> %d, %v", in.Key, out.Val, out.Found)
		case kvPut:
			res = fmt.Sprintf("put(%s, %d)", in.Key, in.Val)
		case kvDelete:
			res = fmt.Sprintf("delete(%s)", in.Key)
		case kvCAS:
			res = fmt.Sprintf("cas(%s, %d -> %d) -> %v", in.Key, in.Old, in.Val, out.Swapped)
		}
		if out.Unknown {
			res += " (failed: outcome unknown)"
		}
		return res
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		if !s.Present {
			return "absent"
		}
		return fmt.Sprint(s.Val)
	},
}

func TestKVModelRejectsNonLinearizableHistories(t *testing.T) {
	t.Parallel()
	// The model must be able to say no, or the real test proves nothing.
	put := func(call, ret int64, v int) porcupine.Operation {
		return porcupine.Operation{Input: kvInput{Op: kvPut, Key: "k", Val: v}, Output: kvOutput{}, Call: call, Return: ret}
	}
	get := func(call, ret int64, v int, found bool) porcupine.Operation {
		return porcupine.Operation{Input: kvInput{Op: kvGet, Key: "k"}, Output: kvOutput{Val: v, Found: found}, Call: call, Return: ret}
	}
	cas := func(call, ret int64, old, new int, swapped, unknown bool) porcupine.Operation {
		return porcupine.Operation{Input: kvInput{Op: kvCAS, Key: "k", Old: old, Val: new}, Output: kvOutput{Swapped: swapped, Unknown: unknown}, Call: call, Return: ret}
	}
	del := func(call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: kvInput{Op: kvDelete, Key: "k"}, Output: kvOutput{}, Call: call, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ok   bool
		h    []porcupine.Operation
	}{
		{"read of the latest write", true, []porcupine.Operation{put(0, 1, 1), get(2, 3, 1, true)}},
		{"stale read", false, []porcupine.Operation{put(0, 1, 1), put(2, 3, 2), get(4, 5, 1, true)}},
		{"concurrent read either way", true, []porcupine.Operation{put(0, 1, 1), put(2, 5, 2), get(3, 4, 1, true)}},
		{"read of an absent key", true, []porcupine.Operation{get(0, 1, 0, false)}},
		{"zero is not absent", false, []porcupine.Operation{get(0, 1, 0, true)}},
		{"read after delete", false, []porcupine.Operation{put(0, 1, 1), del(2, 3), get(4, 5, 1, true)}},
		{"cas on an absent key fails", false, []porcupine.Operation{cas(0, 1, 0, 1, true, false)}},
		{"cas swaps", true, []porcupine.Operation{put(0, 1, 1), cas(2, 3, 1, 2, true, false), get(4, 5, 2, true)}},
		{"cas must swap", false, []porcupine.Operation{put(0, 1, 1), cas(2, 3, 1, 2, false, false)}},
		{"failed cas may apply", true, []porcupine.Operation{put(0, 1, 1), cas(2, math.MaxInt64, 1, 2, false, true), get(4, 5, 2, true)}},
		{"failed cas may not apply", true, []porcupine.Operation{put(0, 1, 1), cas(2, math.MaxInt64, 1, 2, false, true), get(4, 5, 1, true)}},
		{"failed cas applies at most once", false, []porcupine.Operation{put(0, 1, 1), cas(2, math.MaxInt64, 1, 2, false, true), get(4, 5, 2, true), get(6, 7, 1, true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.ok, porcupine.CheckOperations(kvModel, tc.h))
		})
	}
}

// Clients on every member of a stable cluster run random operations on a
// few keys; the history must be linearizable: each operation takes effect
// at one instant between its call and its return.
func TestOperationsAreLinearizable(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 60*time.Second)

	// One key owned by each member, so every client reaches every owner,
	// itself included; and few keys, so operations contend.
	var keys []string
	owners := map[string]bool{}
	for i := 0; len(keys) < len(ms); i++ {
		k := fmt.Sprintf("lin-%d", i)
		if o := ownerOf(t, ms[0], k); !owners[o] {
			owners[o] = true
			keys = append(keys, k)
		}
	}

	const clientsPerMember, opsPerClient = 3, 600
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	start := time.Now()
	clock := func() int64 { return int64(time.Since(start)) }

	var mu sync.Mutex
	var history []porcupine.Operation
	failed := 0
	var wg sync.WaitGroup
	for mi, m := range ms {
		mp := grid.GetMap[string, int](m, "linearizable")
		for ci := range clientsPerMember {
			client := mi*clientsPerMember + ci
			rng := rand.New(rand.NewPCG(seed, uint64(client)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range opsPerClient {
					in := kvInput{Key: keys[rng.IntN(len(keys))], Val: rng.IntN(4), Old: rng.IntN(4)}
					var out kvOutput
					var err error
					call := clock()
					switch r := rng.IntN(10); {
					case r < 4:
						in.Op = kvGet
						out.Val, out.Found, err = mp.Get(ctx, in.Key)
					case r < 6:
						in.Op = kvPut
						err = mp.Put(ctx, in.Key, in.Val)
					case r < 7:
						in.Op = kvDelete
						err = mp.Delete(ctx, in.Key)
					default:
						in.Op = kvCAS
						out.Swapped, err = mp.CompareAndSwap(ctx, in.Key, in.Old, in.Val)
					}
					ret := clock()
					mu.Lock()
					if err != nil {
						failed++
					}
					switch {
					case err == nil:
						history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
					case in.Op == kvGet:
						// A failed read changed nothing: leave it out.
					default:
						// A failed write may have been applied, at any time
						// after its call.
						history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: kvOutput{Unknown: true}, Return: math.MaxInt64})
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("%d operations in %v, %d failed", len(history), time.Since(start), failed)

	res, info := porcupine.CheckOperationsVerbose(kvModel, history, 20*time.Second)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("weir-linearizability-%d.html", seed))
		if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
			t.Logf("history visualised in %s", path)
		} else {
			t.Logf("visualisation failed: %v", err)
		}
	}
	require.Equal(t, porcupine.Ok, res, "the history is not linearizable (Unknown: the checker timed out)")
	require.Zero(t, failed, "a stable cluster fails no operation")
}
