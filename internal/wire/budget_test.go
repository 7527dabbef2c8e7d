package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// op is shaped like a map operation: a few short fields and several that
// are usually empty, about 200 bytes in memory.
type op struct {
	Map   string `msgpack:"m"`
	Code  int    `msgpack:"o"`
	Part  int    `msgpack:"p"`
	Key   []byte `msgpack:"k"`
	Value []byte `msgpack:"v,omitempty"`
	Old   []byte `msgpack:"x,omitempty"`
	Proc  string `msgpack:"f,omitempty"`
	Extra struct {
		A, B, C string
		D, E    []byte
	} `msgpack:"c,omitempty"`
}

type batch struct {
	Ops []op `msgpack:"o"`
}

// An array of nils or empty maps, one byte each, would decode into a struct
// of hundreds of bytes each: refused before decoding. An honest batch of
// the same element count, whose elements carry their fields, decodes.
func TestUnmarshalRefusesAmplification(t *testing.T) {
	const n = 100_000
	for name, elem := range map[string]byte{"nils": 0xc0, "empty maps": 0x80, "empty arrays": 0x90} {
		b := []byte{0x81, 0xa1, 'o', 0xdd}
		b = binary.BigEndian.AppendUint32(b, n)
		b = append(b, bytes.Repeat([]byte{elem}, n)...)
		var got batch
		err := Unmarshal(b, &got)
		require.ErrorIs(t, err, ErrTooCostly, name)
		require.ErrorIs(t, err, ErrInvalidMsgpack, name)
		require.Nil(t, got.Ops, "%s: nothing decoded", name)
	}

	honest := batch{}
	for i := range n {
		honest.Ops = append(honest.Ops, op{Map: "m", Code: 1, Part: i % 271, Key: []byte{byte(i)}})
	}
	b, err := msgpack.Marshal(&honest)
	require.NoError(t, err)
	var got batch
	require.NoError(t, Unmarshal(b, &got))
	require.Len(t, got.Ops, n)

	// Generic destinations: small integers box into interfaces for free in
	// the bound's terms, and nested empty arrays cost their headers.
	ints, err := msgpack.Marshal(bytes.Repeat([]byte{1}, 1)) // bin: cheap
	require.NoError(t, err)
	var anyv any
	require.NoError(t, Unmarshal(ints, &anyv))
	many := []byte{0xdd}
	many = binary.BigEndian.AppendUint32(many, n)
	many = append(many, bytes.Repeat([]byte{0x90}, n)...)
	require.ErrorIs(t, Unmarshal(many, &anyv), ErrTooCostly, "n empty arrays into []any each")
	var small []int
	smallB, _ := msgpack.Marshal(make([]int, n))
	require.NoError(t, Unmarshal(smallB, &small))
}

// The cost walk agrees with msgpack on field names: tagged, untagged,
// skipped and inlined fields, and structs encoded as arrays.
func TestCheckCostFieldNames(t *testing.T) {
	type inner struct {
		Big [4]op
	}
	type outer struct {
		inner
		Named   []op `msgpack:"n"`
		Skipped []op `msgpack:"-"`
	}
	pad := func(field string) []byte {
		b := append([]byte{0x81, 0xa0 | byte(len(field))}, field...)
		b = append(b, 0xdc, 0xff, 0xff)
		return append(b, bytes.Repeat([]byte{0xc0}, 0xffff)...)
	}
	var o outer
	require.ErrorIs(t, CheckCost(pad("n"), &o), ErrTooCostly, "a tagged field")
	require.NoError(t, CheckCost(pad("Named"), &o), "an unknown name is skipped by the decoder")
	require.NoError(t, CheckCost(pad("Skipped"), &o), "a skipped field is skipped by the decoder")
	big := append([]byte{0x81, 0xa3, 'B', 'i', 'g', 0x94}, bytes.Repeat([]byte{0x80}, 4)...)
	require.NoError(t, CheckCost(big, &o), "an inlined field of fixed size costs nothing more")
	// In the array form, fields go in order.
	arr := append([]byte{0x92, 0xc0, 0xdc, 0xff, 0xff}, bytes.Repeat([]byte{0xc0}, 0xffff)...)
	require.ErrorIs(t, CheckCost(arr, &o), ErrTooCostly, "the array form")
}
