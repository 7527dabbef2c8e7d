package partition

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Caps on a decoded table. They are far above any real cluster and exist so a
// hostile or corrupt frame fails fast instead of making us allocate for it.
const (
	// maxCount bounds the partition count of a decoded table.
	maxCount = 1 << 20
	// maxMembers bounds the member list of a decoded table.
	maxMembers = 1 << 16
	// maxNameLen bounds one member name.
	maxNameLen = 1 << 12
)

// The wire form is the msgpack array [version, [name...], [[index...]...]]:
// every name is sent once and rows refer to it by index, which keeps a
// 271-partition table with three replicas per row around 1 KiB.

var (
	_ encoding.BinaryMarshaler   = (*Table)(nil)
	_ encoding.BinaryUnmarshaler = (*Table)(nil)
	_ msgpack.CustomEncoder      = (*Table)(nil)
	_ msgpack.CustomDecoder      = (*Table)(nil)
)

// MarshalBinary encodes t in the compact wire form.
func (t *Table) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	if err := t.encode(msgpack.NewEncoder(&buf)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeMsgpack lets a *Table be a field of a msgpack message as is.
func (t *Table) EncodeMsgpack(enc *msgpack.Encoder) error { return t.encode(enc) }

func (t *Table) encode(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(3); err != nil {
		return err
	}
	if err := enc.EncodeUint(t.version); err != nil {
		return err
	}
	if err := enc.EncodeArrayLen(len(t.members)); err != nil {
		return err
	}
	for _, m := range t.members {
		if err := enc.EncodeString(m); err != nil {
			return err
		}
	}
	if err := enc.EncodeArrayLen(len(t.rows)); err != nil {
		return err
	}
	for _, row := range t.rows {
		if err := enc.EncodeArrayLen(len(row)); err != nil {
			return err
		}
		for _, m := range row {
			i, _ := slices.BinarySearch(t.members, m)
			if err := enc.EncodeUint(uint64(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalBinary decodes a table sent by another member. The input is not
// trusted: every length is checked against the bytes left before anything is
// allocated for it, and the result is validated like NewTable's. Use it only
// on a fresh Table; a Table that others can see must stay immutable.
func (t *Table) UnmarshalBinary(b []byte) error {
	r := bytes.NewReader(b)
	// bytes.Reader is an io.ByteScanner, so the decoder reads from it without
	// buffering and r.Len() is exactly what is left to decode.
	dec := msgpack.NewDecoder(r)
	d, err := decodeTable(dec, r)
	if err != nil {
		if !errors.Is(err, ErrInvalidTable) {
			err = fmt.Errorf("%w: %w", ErrInvalidTable, err)
		}
		return err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrInvalidTable, r.Len())
	}
	*t = *d
	return nil
}

// DecodeMsgpack is the counterpart of EncodeMsgpack. It isolates the table's
// bytes first so that UnmarshalBinary's checks against the remaining input
// apply. Isolating them cannot be tricked into a large allocation either:
// msgpack grows the copy in steps of at most 1 MiB as bytes actually arrive.
func (t *Table) DecodeMsgpack(dec *msgpack.Decoder) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTable, err)
	}
	return t.UnmarshalBinary(raw)
}

func decodeTable(dec *msgpack.Decoder, r *bytes.Reader) (*Table, error) {
	// Every msgpack value takes at least one byte, so a length larger than the
	// bytes left is a lie and is refused before it sizes an allocation.
	arrayLen := func(limit int) (int, error) {
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return 0, err
		}
		if n < 0 || n > r.Len() || n > limit {
			return 0, fmt.Errorf("bad length %d", n)
		}
		return n, nil
	}

	n, err := arrayLen(3)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	if n != 3 {
		return nil, fmt.Errorf("table: %d fields, want 3", n)
	}
	version, err := dec.DecodeUint64()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}

	nm, err := arrayLen(maxMembers)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	names := make([]string, nm)
	for i := range names {
		l, err := dec.DecodeBytesLen()
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		if l < 0 || l > r.Len() || l > maxNameLen {
			return nil, fmt.Errorf("member %d: bad name length %d", i, l)
		}
		buf := make([]byte, l)
		if err := dec.ReadFull(buf); err != nil {
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		names[i] = string(buf)
	}

	np, err := arrayLen(maxCount)
	if err != nil {
		return nil, fmt.Errorf("rows: %w", err)
	}
	rows := make([][]string, np)
	for p := range rows {
		k, err := arrayLen(len(names))
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		if k == 0 {
			continue
		}
		row := make([]string, k)
		for j := range row {
			idx, err := dec.DecodeUint64()
			if err != nil {
				return nil, fmt.Errorf("partition %d: %w", p, err)
			}
			if idx >= uint64(len(names)) {
				return nil, fmt.Errorf("partition %d: member index %d out of range", p, idx)
			}
			row[j] = names[idx]
		}
		rows[p] = row
	}
	if err := validateRows(rows); err != nil {
		return nil, err
	}
	return newTable(version, rows), nil
}
