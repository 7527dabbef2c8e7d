package member_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// A second member started under the name of a live one is refused with
// ErrNameTaken, whichever member it joins through, and the live member is
// not disturbed: no table drops it, and it keeps its ID.
func TestStartRefusesTheNameOfALiveMember(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	taken := ms[1]
	var mu sync.Mutex
	var dropped []string
	for _, m := range ms {
		remove := member.HostOf(m).OnTableChange(func(_, nw *partition.Table) {
			if nw != nil && !slices.Contains(nw.Members(), taken.ID()) {
				mu.Lock()
				dropped = append(dropped, nw.String())
				mu.Unlock()
			}
		})
		t.Cleanup(remove)
	}
	version := ms[0].Partitions().Version()

	for _, seed := range ms {
		cfg := clustertest.Config(t)
		cfg.Name = taken.Name()
		cfg.Join = []string{seed.Addr()}
		cfg.RejoinInterval = 0
		dup, err := member.Start(ctxT(t, 30*time.Second), cfg)
		if dup != nil {
			_ = dup.Shutdown(ctxT(t, 10*time.Second))
		}
		require.ErrorIs(t, err, member.ErrNameTaken, "joined through %s", seed.Name())
		require.ErrorIs(t, err, member.ErrJoin)
		require.ErrorContains(t, err, taken.Name())
		t.Logf("error: %v", err)
	}
	require.Equal(t, version, ms[0].Partitions().Version(), "the refused member changed the table")

	// The cluster goes on: a member under a new name joins, and through all
	// of it no table went without the live member of that name.
	c.Add(func(*member.Config) {})
	c.WaitStable(3)
	mu.Lock()
	require.Empty(t, dropped, "the live member was dropped")
	mu.Unlock()
	for _, m := range ms {
		i, ok := m.MemberByID(taken.ID())
		require.True(t, ok, "%s lost the live member", m.Name())
		require.Equal(t, taken.Name(), i.Name)
	}
}
