package wire

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// Strings and int64s, which Marshal and Unmarshal handle without msgpack's
// reflection, encode to msgpack's bytes and decode from every encoding
// msgpack gives them.
func TestStringAndInt64AsMsgpack(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		s := strings.Repeat("x", n)
		want, err := msgpack.Marshal(s)
		require.NoError(t, err)
		got, err := Marshal(s)
		require.NoError(t, err)
		require.Equal(t, want, got, "string of %d bytes", n)
		var back string
		require.NoError(t, Unmarshal(got, &back))
		require.Equal(t, s, back)
		// Truncated or with trailing bytes: refused, as before.
		if n > 0 {
			require.Error(t, Unmarshal(got[:len(got)-1], &back), "truncated string of %d bytes", n)
		}
		require.Error(t, Unmarshal(append(got, 0), &back))
	}
	compact := func(v any) []byte {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		require.NoError(t, enc.Encode(v))
		return buf.Bytes()
	}
	for _, n := range []int64{0, 1, -1, 127, 128, -32, -33, 255, 256, -129, 65535, 65536, -32769, math.MaxInt32 + 1, math.MinInt32 - 1, math.MaxInt64, math.MinInt64} {
		want, err := msgpack.Marshal(n)
		require.NoError(t, err)
		got, err := Marshal(n)
		require.NoError(t, err)
		require.Equal(t, want, got, "int64 %d", n)
		// Every integer encoding msgpack writes, compact ones included.
		for _, v := range []any{n, int(n), uint64(n), int32(n), uint8(n), int16(n)} {
			b, err := msgpack.Marshal(v)
			require.NoError(t, err)
			for _, b := range [][]byte{b, compact(v)} {
				var wantBack, back int64
				errWant := msgpack.Unmarshal(b, &wantBack)
				err = Unmarshal(b, &back)
				if errWant == nil {
					require.NoError(t, err)
					require.Equal(t, wantBack, back, "%T %v", v, v)
				}
			}
		}
	}
	var n int64
	require.Error(t, Unmarshal([]byte{0xd3, 1, 2}, &n))
	require.Error(t, Unmarshal([]byte{0xa1, 'x'}, &n))
}
