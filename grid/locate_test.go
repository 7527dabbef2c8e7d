package grid_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// Partition and Owner name where the map really keeps a key: the partition
// a scan of that partition finds it in, and the member that holds it
// locally, whichever member asks.
func TestPartitionAndOwnerAgreeWithWhereTheMapStoresKeys(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	byID := map[string]*member.Member{}
	for _, m := range ms {
		byID[m.ID()] = m
	}

	for _, tc := range []struct {
		name string
		put  func(i int) error
		// locate returns key i's partition and owner as seen from m.
		locate func(m *member.Member, i int) (int, member.Info, error)
		// inPartition and onMember report whether key i is where they say.
		inPartition func(m *member.Member, p, i int) bool
		onMember    func(m *member.Member, i int) bool
	}{
		{
			name: "string keys",
			put: func(i int) error {
				return grid.GetMap[string, int](ms[0], "located-strings").Put(ctx, fmt.Sprintf("key-%d", i), i)
			},
			locate: func(m *member.Member, i int) (int, member.Info, error) {
				return locate(grid.GetMap[string, int](m, "located-strings"), fmt.Sprintf("key-%d", i))
			},
			inPartition: func(m *member.Member, p, i int) bool {
				return scanHas(t, grid.GetMap[string, int](m, "located-strings"), p, fmt.Sprintf("key-%d", i))
			},
			onMember: func(m *member.Member, i int) bool {
				return localHas(grid.GetMap[string, int](m, "located-strings"), fmt.Sprintf("key-%d", i))
			},
		},
		{
			// Written as int64, located as uint8: integers route by value.
			name: "integer keys of two types",
			put: func(i int) error {
				return grid.GetMap[int64, int](ms[0], "located-ints").Put(ctx, int64(i), i)
			},
			locate: func(m *member.Member, i int) (int, member.Info, error) {
				return locate(grid.GetMap[uint8, int](m, "located-ints"), uint8(i))
			},
			inPartition: func(m *member.Member, p, i int) bool {
				return scanHas(t, grid.GetMap[int64, int](m, "located-ints"), p, int64(i))
			},
			onMember: func(m *member.Member, i int) bool {
				return localHas(grid.GetMap[int64, int](m, "located-ints"), int64(i))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 200
			for i := range n {
				require.NoError(t, tc.put(i))
			}
			owners := map[string]int{}
			for i := range n {
				p, owner, err := tc.locate(ms[0], i)
				require.NoError(t, err)
				for _, m := range ms[1:] {
					p2, owner2, err := tc.locate(m, i)
					require.NoError(t, err)
					require.Equal(t, p, p2, "key %d's partition seen from %s", i, m.Name())
					require.Equal(t, owner.ID, owner2.ID, "key %d's owner seen from %s", i, m.Name())
				}
				require.True(t, tc.inPartition(ms[1], p, i), "key %d is not in partition %d", i, p)
				require.True(t, tc.onMember(byID[owner.ID], i), "key %d is not stored on its owner %s", i, owner.Name)
				owners[owner.ID]++
			}
			require.Len(t, owners, 3, "%d keys spread over every member", n)
		})
	}
}

func TestPartitionRefusesWhatPutRefuses(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	mp := grid.GetMap[string, int](c.Members()[0], "limited", grid.WithSizeLimits(16, 1<<10))
	_, err := mp.Partition(strings.Repeat("k", 64))
	require.ErrorIs(t, err, grid.ErrTooLarge)
	_, err = mp.Owner(strings.Repeat("k", 64))
	require.ErrorIs(t, err, grid.ErrTooLarge)
	require.ErrorIs(t, mp.Put(ctxT(t, 10*time.Second), strings.Repeat("k", 64), 1), grid.ErrTooLarge)
}

func locate[K comparable, V any](mp *grid.Map[K, V], k K) (int, member.Info, error) {
	p, err := mp.Partition(k)
	if err != nil {
		return 0, member.Info{}, err
	}
	owner, err := mp.Owner(k)
	return p, owner, err
}

// scanHas reports whether a scan of partition p finds k.
func scanHas[K comparable, V any](t *testing.T, mp *grid.Map[K, V], p int, k K) bool {
	found := false
	require.NoError(t, mp.Partitioned().Scan(ctxT(t, 10*time.Second), p, func(got K, _ V) bool {
		found = got == k
		return !found
	}))
	return found
}

// localHas reports whether k is among the entries the member holds as owner.
func localHas[K comparable, V any](mp *grid.Map[K, V], k K) bool {
	for e, err := range mp.LocalEntries() {
		if err == nil && e.Key == k {
			return true
		}
	}
	return false
}
