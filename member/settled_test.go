package member_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// WaitSettled returns once partitions are balanced and backed up and every
// member holds the table it returns: nothing needs to be polled after it.
func TestWaitSettled(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 60*time.Second)
	cfg := clustertest.Config(t)
	var ms []*member.Member
	start := func(adjust func(*member.Config)) *member.Member {
		c := cfg
		c.Name = fmt.Sprintf("m%d", len(ms)+1)
		if len(ms) > 0 {
			c.Join = []string{ms[0].Addr()}
		}
		adjust(&c)
		m, err := member.Start(ctx, c)
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		ms = append(ms, m)
		return m
	}
	// settled waits on m, with every member started in its view, and checks
	// at once that all hold the table it returned, and that it is balanced.
	settled := func(m *member.Member) {
		t.Helper()
		_, err := m.WaitMembers(ctx, func(is []member.Info) bool { return len(is) == len(ms) })
		require.NoError(t, err)
		tbl, err := m.WaitSettled(ctx)
		require.NoError(t, err)
		for _, o := range ms {
			require.Equal(t, tbl.Version(), o.Partitions().Version(), "%s's table", o.Name())
			require.True(t, tbl.SameAssignment(o.Partitions()), "%s's table", o.Name())
		}
		require.NoError(t, tbl.CheckPlacement(clustertest.DataMembers(ms), 1))
	}

	for range 3 {
		start(func(*member.Config) {})
	}
	settled(ms[0]) // the coordinator, which applies each table first
	start(func(c *member.Config) { c.Lite = true })
	settled(ms[3])
	start(func(*member.Config) {})
	settled(ms[1])

	require.NoError(t, ms[1].Shutdown(ctx))
	_, err := ms[1].WaitSettled(ctx)
	require.ErrorIs(t, err, member.ErrClosed)
	ms = append(ms[:1], ms[2:]...)
	settled(ms[0])
}
