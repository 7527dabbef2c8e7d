package snapshot

import (
	"fmt"

	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/wire"
)

// The storage format. One chunk is one entry of a grid map.
//
// Key: the msgpack array [id, vertex, partition, writer, nonce, seq] (a
// chunkKey, encoded canonically like every map key). The id and the
// writer's random nonce make every writer's keys its own, so nothing ever
// overwrites a chunk: a zombie writer of an aborted attempt only adds
// orphans, which the next ClearSlot of that slot removes.
//
// Value (a msgpack bin in the map, as every []byte value):
//
//	fixarray(2)
//	  header:  array [format, id, vertex, partition, writer, nonce, seq, entries]
//	  payload: bin32 holding `entries` pairs of msgpack bins: key, value, key, value, ...
//
// The header repeats the key so a chunk found under a key can be checked
// to be the one a manifest names, and carries the entry count that
// verification compares. The payload is one bin so that a verifier can skip
// it in O(1), and its pairs are bins so that keys and values may be any
// bytes (keys are canonical msgpack, values whatever the processor saved).
// Bytes read back are untrusted: every length is checked against what
// remains (wire.Unmarshal for the header, codec's bounded Next for pairs).
const chunkFormat = 1

// chunkKey is a chunk's key in the map.
type chunkKey struct {
	_msgpack  struct{} `msgpack:",as_array"`
	ID        uint64
	Vertex    string
	Partition int
	Writer    int
	Nonce     uint64
	Seq       uint32
}

// chunkHeader is the first element of a chunk's value.
type chunkHeader struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Format    int
	ID        uint64
	Vertex    string
	Partition int
	Writer    int
	Nonce     uint64
	Seq       uint32
	Entries   int64
}

var binCodec = codec.For[[]byte]()
var strCodec = codec.For[string]()

// entrySize bounds the bytes one entry takes in a payload.
func entrySize(key, value []byte) int { return len(key) + len(value) + 10 }

// appendEntry appends one key/value pair to a payload.
func appendEntry(dst, key, value []byte) []byte {
	return appendBin(appendBin(dst, key), value)
}

// appendBin appends b as a msgpack bin (nil as msgpack nil), as codec
// does for []byte, without going through a function value: it runs for
// every entry of every snapshot.
func appendBin(dst, b []byte) []byte {
	n := len(b)
	switch {
	case b == nil:
		return append(dst, 0xc0)
	case n < 1<<8:
		dst = append(dst, 0xc4, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xc5, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, b...)
}

// encodeChunk builds a chunk's value from its reference and payload.
func encodeChunk(ref ChunkRef, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+len(ref.Vertex)+48)
	b = append(b, 0x92, 0x98) // fixarray(2), header fixarray(8)
	b = codec.AppendUint(b, chunkFormat)
	b = codec.AppendUint(b, ref.Snapshot)
	b, _ = strCodec.Append(b, ref.Vertex)
	b = codec.AppendInt(b, int64(ref.Partition))
	b = codec.AppendInt(b, int64(ref.Writer))
	b = codec.AppendUint(b, ref.Nonce)
	b = codec.AppendUint(b, uint64(ref.Seq))
	b = codec.AppendInt(b, ref.Entries)
	n := len(payload)
	b = append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, payload...)
}

// decodeChunk splits a chunk's value into its header and payload.
func decodeChunk(b []byte) (chunkHeader, []byte, error) {
	var h chunkHeader
	if len(b) < 2 || b[0] != 0x92 {
		return h, nil, fmt.Errorf("%w: not a chunk", ErrCorrupt)
	}
	n, err := wire.Skip(b[1:])
	if err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if err := wire.Unmarshal(b[1:1+n], &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if h.Format != chunkFormat {
		return h, nil, fmt.Errorf("%w: chunk format %d, this version reads %d", ErrCorrupt, h.Format, chunkFormat)
	}
	payload, m, err := binCodec.Next(b[1+n:])
	if err != nil || 1+n+m != len(b) {
		return h, nil, fmt.Errorf("%w: payload of %d bytes malformed", ErrCorrupt, len(b)-1-n)
	}
	return h, payload, nil
}

// matches reports whether a chunk's header is the one ref names.
func (h *chunkHeader) matches(ref ChunkRef) bool {
	return h.ID == ref.Snapshot && h.Vertex == ref.Vertex && h.Partition == ref.Partition &&
		h.Writer == ref.Writer && h.Nonce == ref.Nonce && h.Seq == ref.Seq && h.Entries == ref.Entries
}

// eachEntry calls fn for every pair of a payload holding want entries, and
// returns fn's error as is. key and value share payload's memory. chunk
// names the chunk in errors.
func eachEntry(payload []byte, want int64, chunk string, fn func(key, value []byte) error) error {
	var got int64
	for len(payload) > 0 {
		k, n, err := binCodec.Next(payload)
		if err != nil {
			return fmt.Errorf("%w: %s: entry %d key: %v", ErrCorrupt, chunk, got, err)
		}
		payload = payload[n:]
		v, n, err := binCodec.Next(payload)
		if err != nil {
			return fmt.Errorf("%w: %s: entry %d value: %v", ErrCorrupt, chunk, got, err)
		}
		payload = payload[n:]
		got++
		if got > want {
			break
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	switch {
	case got > want:
		return fmt.Errorf("%w: %s: payload holds more than the %d entries of its header", ErrCorrupt, chunk, want)
	case got < want:
		return fmt.Errorf("%w: %s: payload holds %d of the %d entries of its header", ErrCorrupt, chunk, got, want)
	}
	return nil
}
