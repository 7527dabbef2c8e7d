// Package keys encodes keys and values the one way every part of weir agrees
// on, so a key hashes to the same partition in a map, on a partitioned DAG
// edge and in every process, and equal values have equal bytes (for
// compare-and-set): msgpack with integers in their shortest form, then
// partition.ForKey. msgpack sorts the keys of map[string]string,
// map[string]bool and map[string]any values only; other maps encode in Go's
// random order, so a compare-and-set on a value holding such a map can fail
// although the values are equal. (Keys cannot be maps: they are comparable.)
package keys

import (
	"bytes"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/partition"
)

var encoders = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	// Integers in their shortest form whatever their Go type, so int(7) and
	// int64(7) are the same key.
	enc.UseCompactInts(true)
	return &encoder{buf: &buf, enc: enc}
}}

type encoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// Encode returns the canonical msgpack encoding of k.
func Encode(k any) ([]byte, error) {
	if s, ok := k.(string); ok {
		// The commonest key and value, encoded without the encoder.
		return wire.AppendString(make([]byte, 0, len(s)+5), s), nil
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(k); err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// Partition returns the partition of an encoded key among n.
func Partition(encoded []byte, n int) int { return partition.ForKey(encoded, n) }
