package grid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// A put retried after an attempt that applied (its backups did not answer
// in time, its connection broke) finds its value in place and is not
// journaled again, so a job reading the journal sees it once; a retry that
// finds another value applies. The flag travels in both encodings.
func TestRetriedPutIsJournaledOnce(t *testing.T) {
	t.Parallel()
	m, err := member.Start(context.Background(), clustertest.Config(t), Service())
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mp := GetMap[string, string](m, "retry", WithJournal(16))
	kb, p, err := mp.encodeKey("k")
	require.NoError(t, err)
	vb, err := mp.encodeValue("v1")
	require.NoError(t, err)
	op := opRequest{Map: mp.name, Op: opPut, Part: p, Key: kb, Value: vb, Cfg: mp.o.store}
	s := serviceOf(m)

	_, err = s.write(ctx, &op)
	require.NoError(t, err)
	op.Retry = true
	resp, err := s.write(ctx, &op)
	require.NoError(t, err)
	require.True(t, resp.Applied)
	events := func() []Event[string, string] {
		b, err := mp.readJournal(ctx, p, 0, 16)
		require.NoError(t, err)
		return b.Events
	}
	require.Len(t, events(), 1, "the retry of an applied put is not journaled again")

	require.NoError(t, mp.Put(ctx, "k", "v2"))
	_, err = s.write(ctx, &op) // the retry finds another writer's value
	require.NoError(t, err)
	v, _, err := mp.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	require.Len(t, events(), 3)

	var back opRequest
	require.NoError(t, parseOp(appendOp(nil, &op), &back))
	require.True(t, back.Retry)
	require.Equal(t, opPut, back.Op)
	op.Retry = false
	require.NoError(t, parseOp(appendOp(nil, &op), &back))
	require.False(t, back.Retry)
}
