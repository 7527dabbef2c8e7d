package grid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// Bytes that are not msgpack, sent as a key or value by a peer that is not
// a weir member, are refused at the owner: stored, they would make every
// later scan of the map fail.
func TestOwnerRefusesKeysAndValuesThatAreNotMsgpack(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mp := GetMap[string, string](m, "checked")
	require.NoError(t, mp.Put(ctx, "good", "value"))
	kb, p, err := mp.encodeKey("k")
	require.NoError(t, err)
	for name, op := range map[string]opRequest{
		"key":   {Map: "checked", Op: opPut, Part: p, Key: []byte{0xc1, 'x'}, Value: []byte{0xa1, 'v'}},
		"value": {Map: "checked", Op: opPut, Part: p, Key: kb, Value: []byte("not msgpack at all")},
	} {
		_, err := serviceOf(m).m.Call(ctx, m.ID(), routeOp, appendOp(nil, &op))
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "malformed operation", name)
	}
	n := 0
	for _, err := range mp.All(ctx) {
		require.NoError(t, err, "a scan reads every entry")
		n++
	}
	require.Equal(t, 1, n)
}
