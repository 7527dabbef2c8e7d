package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth bounds the nesting of msgpack values accepted from the network, so
// a deeply nested value cannot exhaust the decoder's stack.
const MaxDepth = 64

// ErrInvalidMsgpack is returned by Validate and Unmarshal for bytes that are
// not one well-formed, plausibly sized msgpack value.
var ErrInvalidMsgpack = errors.New("invalid msgpack")

// Marshal encodes v as msgpack. Strings and int64s, the arguments and
// values of the commonest operations, are encoded here, as msgpack
// encodes them, without its reflection.
func Marshal(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return AppendString(make([]byte, 0, len(x)+5), x), nil
	case int64:
		b := make([]byte, 9)
		b[0] = 0xd3
		binary.BigEndian.PutUint64(b[1:], uint64(x))
		return b, nil
	}
	return msgpack.Marshal(v)
}

// AppendString appends s encoded as msgpack encodes a string.
func AppendString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// stringOf decodes b if it is exactly one msgpack string.
func stringOf(b []byte) (string, bool) {
	n, h, ok := StrHeader(b)
	if !ok || len(b)-h != n {
		return "", false
	}
	return string(b[h:]), true
}

// StrHeader reads a msgpack string header: the length n of the string
// that follows and the header's size.
func StrHeader(b []byte) (n, hdr int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		return int(c & 0x1f), 1, true
	case c == 0xd9 && len(b) >= 2:
		return int(b[1]), 2, true
	case c == 0xda && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), 3, true
	case c == 0xdb && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), 5, true
	}
	return 0, 0, false
}

// int64Of decodes b if it is exactly one msgpack integer that fits an
// int64.
func int64Of(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	c, rest := b[0], b[1:]
	switch {
	case c <= 0x7f:
		return int64(c), len(rest) == 0
	case c >= 0xe0:
		return int64(int8(c)), len(rest) == 0
	}
	switch {
	case c == 0xd0 && len(rest) == 1:
		return int64(int8(rest[0])), true
	case c == 0xd1 && len(rest) == 2:
		return int64(int16(binary.BigEndian.Uint16(rest))), true
	case c == 0xd2 && len(rest) == 4:
		return int64(int32(binary.BigEndian.Uint32(rest))), true
	case c == 0xd3 && len(rest) == 8:
		return int64(binary.BigEndian.Uint64(rest)), true
	case c == 0xcc && len(rest) == 1:
		return int64(rest[0]), true
	case c == 0xcd && len(rest) == 2:
		return int64(binary.BigEndian.Uint16(rest)), true
	case c == 0xce && len(rest) == 4:
		return int64(binary.BigEndian.Uint32(rest)), true
	}
	return 0, false
}

// Unmarshal decodes msgpack bytes that came from outside the process into v,
// which should be a pointer to a concrete type. It validates first, so no
// declared length can make the decoder allocate more than the input allows,
// and refuses bytes that would decode into more than DecodeRatio times
// their size (CheckCost).
func Unmarshal(b []byte, v any) error {
	// The commonest cases, decoded without reflection; anything else
	// (other encodings msgpack accepts, errors) takes the long way.
	switch p := v.(type) {
	case *string:
		if s, ok := stringOf(b); ok {
			*p = s
			return nil
		}
	case *int64:
		if n, ok := int64Of(b); ok {
			*p = n
			return nil
		}
	}
	if err := Validate(b); err != nil {
		return err
	}
	if err := CheckCost(b, v); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// Validate checks that b holds exactly one msgpack value, nested at most
// MaxDepth deep, in which every string, binary, extension, array and map
// declares no more elements or bytes than remain in b.
func Validate(b []byte) error {
	n, err := Skip(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d trailing bytes after the value", ErrInvalidMsgpack, len(b)-n)
	}
	return nil
}

// Skip returns the size of the msgpack value at the start of b, checking it
// as Validate does (lengths bounded by the bytes of b).
func Skip(b []byte) (int, error) {
	// stack[i] is the number of values still to read in the i-th open container.
	var stack [MaxDepth + 1]int
	depth := 0
	stack[0] = 1
	i := 0
	bad := func(what string) error {
		return fmt.Errorf("%w: %s at byte %d of %d", ErrInvalidMsgpack, what, i, len(b))
	}
	for {
		for depth >= 0 && stack[depth] == 0 {
			depth--
		}
		if depth < 0 {
			return i, nil
		}
		stack[depth]--
		if i >= len(b) {
			return 0, bad("truncated value")
		}
		c := b[i]
		i++
		var skip, children int // bytes of payload to skip; child values to read
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		case c&0xe0 == 0xa0: // fixstr
			skip = int(c & 0x1f)
		case c&0xf0 == 0x90: // fixarray
			children = int(c & 0x0f)
		case c&0xf0 == 0x80: // fixmap
			children = 2 * int(c&0x0f)
		case c == 0xcc, c == 0xd0:
			skip = 1
		case c == 0xcd, c == 0xd1:
			skip = 2
		case c == 0xce, c == 0xd2, c == 0xca:
			skip = 4
		case c == 0xcf, c == 0xd3, c == 0xcb:
			skip = 8
		case c == 0xd4:
			skip = 2 // fixext 1: type + 1
		case c == 0xd5:
			skip = 3
		case c == 0xd6:
			skip = 5
		case c == 0xd7:
			skip = 9
		case c == 0xd8:
			skip = 17
		case c == 0xc4, c == 0xd9, c == 0xc5, c == 0xda, c == 0xc6, c == 0xdb: // bin, str
			size := 1
			switch c {
			case 0xc5, 0xda:
				size = 2
			case 0xc6, 0xdb:
				size = 4
			}
			n, ok := readLen(b, &i, size)
			if !ok {
				return 0, bad("truncated length")
			}
			skip = n
		case c == 0xc7, c == 0xc8, c == 0xc9: // ext8/16/32: length, then type byte
			n, ok := readLen(b, &i, 1<<(c-0xc7))
			if !ok {
				return 0, bad("truncated length")
			}
			skip = n + 1
		case c == 0xdc, c == 0xdd, c == 0xde, c == 0xdf: // array16/32, map16/32
			size := 2
			if c == 0xdd || c == 0xdf {
				size = 4
			}
			n, ok := readLen(b, &i, size)
			if !ok {
				return 0, bad("truncated length")
			}
			if n > len(b) {
				return 0, bad(fmt.Sprintf("%d elements declared in %d bytes", n, len(b)))
			}
			children = n
			if c >= 0xde {
				children = 2 * n
			}
		default:
			return 0, bad(fmt.Sprintf("unknown type byte 0x%02x", c))
		}
		rem := len(b) - i
		if skip > rem {
			return 0, bad(fmt.Sprintf("%d bytes declared, %d remain", skip, rem))
		}
		i += skip
		if children > 0 {
			// Every child takes at least one byte.
			if children > len(b)-i {
				return 0, bad(fmt.Sprintf("%d elements declared, %d bytes remain", children, len(b)-i))
			}
			if depth == MaxDepth {
				return 0, bad("nesting deeper than the limit")
			}
			depth++
			stack[depth] = children
		}
	}
}

func readLen(b []byte, i *int, size int) (int, bool) {
	if len(b)-*i < size {
		return 0, false
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[*i])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[*i:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[*i:]))
	}
	*i += size
	return int(n), true
}
