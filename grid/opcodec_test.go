package grid

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpCodecRoundTrip(t *testing.T) {
	t.Parallel()
	ops := []opRequest{
		{Map: "m", Op: opGet, Part: 270, Key: []byte("k"), Table: 9, Near: true},
		{Map: "vehicles", Op: opCAS, Part: 3, Key: []byte{0xa1, 'x'}, Value: []byte("new"), Old: []byte("old"),
			TTL: -1, Proc: "p", Req: reqID{Client: "c1", Seq: 1 << 40}, Table: 1 << 33,
			Cfg: storeConfig{JournalCapacity: 10, TTL: 5, MaxIdle: 7, MaxEntries: 100}, Upd: 123, Exp: -4},
		{Map: "", Op: opPut, Key: []byte{}, Value: []byte{}},
	}
	for _, op := range ops {
		var got opRequest
		require.NoError(t, parseOp(appendOp(nil, &op), &got))
		if op.Value != nil && len(op.Value) == 0 {
			op.Value = got.Value // empty and nil are the same bytes on the wire
		}
		require.Equal(t, op.Map, got.Map)
		require.Equal(t, op.Op, got.Op)
		require.Equal(t, op.Part, got.Part)
		require.Equal(t, string(op.Key), string(got.Key))
		require.Equal(t, string(op.Value), string(got.Value))
		require.Equal(t, string(op.Old), string(got.Old))
		require.Equal(t, op.TTL, got.TTL)
		require.Equal(t, op.Proc, got.Proc)
		require.Equal(t, op.Req, got.Req)
		require.Equal(t, op.Table, got.Table)
		require.Equal(t, op.Cfg, got.Cfg)
		require.Equal(t, op.Near, got.Near)
		require.Equal(t, op.Upd, got.Upd)
		require.Equal(t, op.Exp, got.Exp)
	}
	resp := opResponse{Found: true, Applied: true, Value: []byte("v"), Seq: 77}
	var got opResponse
	require.NoError(t, parseResp(appendResp(nil, &resp), &got))
	require.Equal(t, resp, got)
}

func FuzzParseOp(f *testing.F) {
	f.Add(appendOp(nil, &opRequest{Map: "m", Op: opPut, Key: []byte("k"), Value: []byte("v"), Cfg: storeConfig{TTL: 1}}))
	f.Add([]byte{1, 0xff, 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var op opRequest
		if parseOp(b, &op) == nil {
			// What parses survives a round trip unchanged.
			var again opRequest
			require.NoError(t, parseOp(appendOp(nil, &op), &again))
			require.Equal(t, appendOp(nil, &op), appendOp(nil, &again))
		}
		var resp opResponse
		_ = parseResp(b, &resp)
	})
}
