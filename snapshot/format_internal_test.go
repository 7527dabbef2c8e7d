package snapshot

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
)

func testChunk(t testing.TB, n int) (ChunkRef, []byte, [][2][]byte) {
	var payload []byte
	var entries [][2][]byte
	for i := range n {
		k, err := keys.Encode(fmt.Sprintf("key-%d", i))
		require.NoError(t, err)
		v := bytes.Repeat([]byte{byte(i)}, i%300)
		if i == 0 {
			v = nil
		}
		payload = appendEntry(payload, k, v)
		entries = append(entries, [2][]byte{k, v})
	}
	ref := ChunkRef{Snapshot: 9, Slot: 1, Vertex: "agg", Partition: Broadcast, Writer: 3, Nonce: 1 << 60, Seq: 70000, Entries: int64(n)}
	v := encodeChunk(ref, payload)
	ref.Bytes = int64(len(v))
	return ref, v, entries
}

func TestChunkRoundTrip(t *testing.T) {
	ref, v, entries := testChunk(t, 500)
	require.NoError(t, wire.Validate(v), "a chunk is one msgpack value")
	h, payload, err := decodeChunk(v)
	require.NoError(t, err)
	require.True(t, h.matches(ref))
	var got [][2][]byte
	require.NoError(t, eachEntry(payload, h.Entries, "test", func(k, v []byte) error {
		got = append(got, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}))
	require.Equal(t, entries, got)

	other := ref
	other.Nonce++
	require.False(t, h.matches(other), "a chunk of another writer is not the one referenced")
}

func TestChunkKeyIsCanonicalMsgpackArray(t *testing.T) {
	b, err := keys.Encode(chunkKey{ID: 1, Vertex: "v", Partition: -1, Writer: 2, Nonce: 3, Seq: 4})
	require.NoError(t, err)
	require.Equal(t, []byte{0x96, 1, 0xa1, 'v', 0xff, 2, 3, 4}, b)
}

func TestDecodeChunkRejectsDamage(t *testing.T) {
	_, v, _ := testChunk(t, 20)
	cases := map[string][]byte{
		"empty":          nil,
		"not an array":   {0xc4, 0},
		"truncated":      v[:len(v)-1],
		"trailing bytes": append(bytes.Clone(v), 0),
		"huge header":    {0x92, 0xdd, 0xff, 0xff, 0xff, 0xff},
	}
	wrongFormat := bytes.Clone(v)
	wrongFormat[2] = 2 // header[0], the format
	cases["another format"] = wrongFormat
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := decodeChunk(b)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}

	// A payload with fewer or more entries than its header says.
	h, payload, err := decodeChunk(v)
	require.NoError(t, err)
	nop := func(k, v []byte) error { return nil }
	require.ErrorIs(t, eachEntry(payload, h.Entries+1, "test", nop), ErrCorrupt)
	require.ErrorIs(t, eachEntry(payload, h.Entries-1, "test", nop), ErrCorrupt)
	require.ErrorIs(t, eachEntry(payload[:len(payload)-1], h.Entries, "test", nop), ErrCorrupt)
}

func FuzzDecodeChunk(f *testing.F) {
	_, v, _ := testChunk(f, 5)
	f.Add(v)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := decodeChunk(b)
		if err != nil {
			return
		}
		_ = eachEntry(payload, h.Entries, "test", func(k, v []byte) error { return nil })
	})
}
