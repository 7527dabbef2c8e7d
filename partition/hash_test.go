package partition

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestForKeyGolden pins key -> partition for good. Every member of a
// cluster, whatever its build, must route a key to the same partition, so a
// change here (of the hash, of the jump function, or of how msgpack encodes
// a key) breaks running clusters and stored data. Never update these values
// to make the test pass.
func TestForKeyGolden(t *testing.T) {
	mustEncode := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		return b
	}
	for _, c := range []struct {
		name    string
		key     []byte
		encoded string
		hash    uint64
		in271   int
		in7     int
	}{
		{"empty key", []byte{}, "", 0xef46db3751d8e999, 40, 5},
		{"raw bytes", []byte("hello"), "68656c6c6f", 0x26c7827d889f6da3, 118, 5},
		{"empty string", mustEncode(""), "a0", 0x1ce1e30458dee44f, 203, 1},
		{"string", mustEncode("user-42"), "a7757365722d3432", 0x253dd1e09da6b69e, 214, 0},
		{"longer string", mustEncode("vehicle:WVW-1234"), "b076656869636c653a5756572d31323334", 0x143ae0ff4bfe23d5, 92, 3},
		{"int 0", mustEncode(0), "00", 0xe934a84adb052768, 177, 5},
		{"int 42", mustEncode(42), "2a", 0x0a9edecebeb03ae4, 6, 6},
		{"int -1", mustEncode(-1), "ff", 0x95634172a60b7544, 62, 1},
		{"int64 1<<40", mustEncode(int64(1) << 40), "d30000010000000000", 0x3bdb72d6543f5e65, 93, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.encoded, hex.EncodeToString(c.key), "msgpack encoding changed")
			require.Equal(t, c.hash, Hash(c.key))
			require.Equal(t, c.in271, ForKey(c.key, DefaultCount))
			require.Equal(t, c.in7, ForKey(c.key, 7))
			require.Equal(t, c.in7, ForHash(c.hash, 7))
		})
	}
}

func TestForHashRange(t *testing.T) {
	for _, n := range []int{1, 2, 7, DefaultCount, 1024} {
		counts := make([]int, n)
		for k := range uint64(20 * n) {
			p := ForHash(Hash([]byte{byte(k), byte(k >> 8), byte(k >> 16)}), n)
			require.GreaterOrEqual(t, p, 0)
			require.Less(t, p, n)
			counts[p]++
		}
		// 20 keys a partition on average; an empty partition would mean
		// the hash does not spread.
		require.NotContains(t, counts, 0, "n=%d", n)
	}
	require.Panics(t, func() { ForHash(1, 0) })
}
