// Package codec turns typed values into weir's canonical msgpack bytes and
// back, with hand-written fast paths for the types most keys and values
// have (strings, byte slices, integers), byte-identical to the general path
// (package keys) so a key encodes the same whichever path encoded it.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
)

// Codec encodes and decodes values of type T.
type Codec[T any] struct {
	// Append appends v's encoding to dst.
	Append func(dst []byte, v T) ([]byte, error)
	// Decode decodes b, which came from outside the process: lengths are
	// checked, and a value of another type is an error, never a panic.
	Decode func(b []byte) (T, error)
	// Next decodes the value at the start of b and returns its size, for
	// reading a sequence of values. Strings and byte slices it returns may
	// share memory with b, which must therefore never change afterwards.
	Next func(b []byte) (T, int, error)
}

// Encode returns v's encoding in a new slice.
func (c Codec[T]) Encode(v T) ([]byte, error) { return c.Append(nil, v) }

// ErrType is returned when bytes hold a value of another type.
var ErrType = errors.New("value has another type")

// codecs caches For's codecs by type: building one allocates.
var codecs sync.Map // reflect.Type -> Codec[T]

// For returns the codec for T.
func For[T any]() Codec[T] {
	t := reflect.TypeFor[T]()
	if c, ok := codecs.Load(t); ok {
		return c.(Codec[T])
	}
	c := build[T]()
	codecs.Store(t, c)
	return c
}

func build[T any]() Codec[T] {
	var zero T
	switch any(zero).(type) {
	case string:
		return any(Codec[string]{Append: appendString, Decode: decodeString, Next: nextString}).(Codec[T])
	case []byte:
		return any(Codec[[]byte]{Append: appendBytes, Decode: decodeBytes, Next: nextBytes}).(Codec[T])
	case int:
		return any(intCodec[int]()).(Codec[T])
	case int64:
		return any(intCodec[int64]()).(Codec[T])
	case int32:
		return any(intCodec[int32]()).(Codec[T])
	case uint64:
		return any(uintCodec[uint64]()).(Codec[T])
	case uint32:
		return any(uintCodec[uint32]()).(Codec[T])
	}
	return Codec[T]{Append: appendGeneric[T], Decode: decodeGeneric[T], Next: nextVia(decodeGeneric[T])}
}

// nextVia makes Next from Decode: find the value's end, then decode it.
func nextVia[T any](decode func([]byte) (T, error)) func([]byte) (T, int, error) {
	return func(b []byte) (T, int, error) {
		n, err := wire.Skip(b)
		if err != nil {
			var zero T
			return zero, 0, fmt.Errorf("%w: %v", ErrType, err)
		}
		v, err := decode(b[:n])
		return v, n, err
	}
}

// nextString aliases b: the string shares b's memory.
func nextString(b []byte) (string, int, error) {
	n, hdr, ok := wire.StrHeader(b)
	if !ok || hdr+n > len(b) {
		if len(b) > 0 && b[0] == 0xc0 {
			return "", 1, nil
		}
		return "", 0, fmt.Errorf("%w: not a string", ErrType)
	}
	if n == 0 {
		return "", hdr, nil
	}
	return unsafe.String(&b[hdr], n), hdr + n, nil
}

// nextBytes aliases b: the slice shares b's memory (capacity capped).
func nextBytes(b []byte) ([]byte, int, error) {
	if len(b) > 0 && b[0] == 0xc0 {
		return nil, 1, nil
	}
	n, hdr, ok := binHeader(b)
	if !ok {
		if sn, sh, ok := wire.StrHeader(b); ok && sh+sn <= len(b) {
			return b[sh : sh+sn : sh+sn], sh + sn, nil
		}
		return nil, 0, fmt.Errorf("%w: not bytes", ErrType)
	}
	if hdr+n > len(b) {
		return nil, 0, fmt.Errorf("%w: bad byte-slice length", ErrType)
	}
	return b[hdr : hdr+n : hdr+n], hdr + n, nil
}

func appendGeneric[T any](dst []byte, v T) ([]byte, error) {
	b, err := keys.Encode(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func decodeGeneric[T any](b []byte) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoding %s panicked: %v", ErrType, typeName[T](), p)
		}
	}()
	if err := wire.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: not a %s: %v", ErrType, typeName[T](), err)
	}
	return v, nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

func appendString(dst []byte, s string) ([]byte, error) {
	return wire.AppendString(slices.Grow(dst, 5+len(s)), s), nil
}

func decodeString(b []byte) (string, error) {
	n, hdr, ok := wire.StrHeader(b)
	if !ok || hdr+n != len(b) {
		if len(b) == 1 && b[0] == 0xc0 {
			return "", nil // nil decodes to the zero value, as msgpack does
		}
		return "", fmt.Errorf("%w: not a string", ErrType)
	}
	return string(b[hdr:]), nil
}

// binHeader reads a msgpack bin header: the length n of the bytes that
// follow and the header's size.
func binHeader(b []byte) (n, hdr int, ok bool) {
	switch {
	case len(b) >= 2 && b[0] == 0xc4:
		return int(b[1]), 2, true
	case len(b) >= 3 && b[0] == 0xc5:
		return int(binary.BigEndian.Uint16(b[1:])), 3, true
	case len(b) >= 5 && b[0] == 0xc6:
		return int(binary.BigEndian.Uint32(b[1:])), 5, true
	}
	return 0, 0, false
}

func appendBytes(dst []byte, v []byte) ([]byte, error) {
	if v == nil {
		return append(dst, 0xc0), nil
	}
	n := len(v)
	dst = slices.Grow(dst, 5+n)
	switch {
	case n < 256:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, v...), nil
}

func decodeBytes(b []byte) ([]byte, error) {
	if len(b) == 1 && b[0] == 0xc0 {
		return nil, nil
	}
	n, hdr, ok := binHeader(b)
	if !ok {
		// msgpack decodes strings into byte slices too.
		if sn, sh, ok := wire.StrHeader(b); ok && sh+sn == len(b) {
			return append(make([]byte, 0, sn), b[sh:]...), nil
		}
		return nil, fmt.Errorf("%w: not bytes", ErrType)
	}
	if hdr+n != len(b) {
		return nil, fmt.Errorf("%w: bad byte-slice length", ErrType)
	}
	return append(make([]byte, 0, n), b[hdr:]...), nil
}

// AppendInt appends the shortest msgpack encoding of n.
func AppendInt(dst []byte, n int64) []byte {
	if n >= 0 {
		return AppendUint(dst, uint64(n))
	}
	switch {
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}

// AppendUint appends the shortest msgpack encoding of n.
func AppendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
}

// ReadUint reads an unsigned integer from the start of b and returns the
// rest.
func ReadUint(b []byte) (uint64, []byte, error) {
	n, err := wire.Skip(b)
	if err != nil {
		return 0, nil, err
	}
	_, u, neg, err := decodeInt(b[:n])
	if err != nil || neg {
		return 0, nil, fmt.Errorf("%w: not an unsigned integer", ErrType)
	}
	return u, b[n:], nil
}

// ValueSize is the size of the msgpack value at the start of b.
func ValueSize(b []byte) (int, error) { return wire.Skip(b) }

// errNotInt is built once: decodeInt is on the hot path of every edge.
var errNotInt = fmt.Errorf("%w: not an integer", ErrType)

// decodeInt reads any msgpack integer encoding; neg reports a negative value
// held in i, otherwise the value is u.
func decodeInt(b []byte) (i int64, u uint64, neg bool, err error) {
	if len(b) == 0 {
		return 0, 0, false, errNotInt
	}
	c := b[0]
	need := func(n int) bool { return len(b) == 1+n }
	switch {
	case c <= 0x7f && len(b) == 1:
		return 0, uint64(c), false, nil
	case c >= 0xe0 && len(b) == 1:
		return int64(int8(c)), 0, true, nil
	case c == 0xcc && need(1):
		return 0, uint64(b[1]), false, nil
	case c == 0xcd && need(2):
		return 0, uint64(binary.BigEndian.Uint16(b[1:])), false, nil
	case c == 0xce && need(4):
		return 0, uint64(binary.BigEndian.Uint32(b[1:])), false, nil
	case c == 0xcf && need(8):
		return 0, binary.BigEndian.Uint64(b[1:]), false, nil
	case c == 0xd0 && need(1):
		i = int64(int8(b[1]))
	case c == 0xd1 && need(2):
		i = int64(int16(binary.BigEndian.Uint16(b[1:])))
	case c == 0xd2 && need(4):
		i = int64(int32(binary.BigEndian.Uint32(b[1:])))
	case c == 0xd3 && need(8):
		i = int64(binary.BigEndian.Uint64(b[1:]))
	case c == 0xc0 && len(b) == 1:
		return 0, 0, false, nil
	default:
		return 0, 0, false, errNotInt
	}
	if i >= 0 {
		return 0, uint64(i), false, nil
	}
	return i, 0, true, nil
}

type signed interface{ ~int | ~int64 | ~int32 }
type unsigned interface{ ~uint64 | ~uint32 }

func intCodec[T signed]() Codec[T] {
	c := Codec[T]{
		Append: func(dst []byte, v T) ([]byte, error) { return AppendInt(dst, int64(v)), nil },
		Decode: func(b []byte) (T, error) {
			i, u, neg, err := decodeInt(b)
			if err != nil {
				return 0, err
			}
			var v T
			if neg {
				v = T(i)
				if int64(v) != i {
					return 0, fmt.Errorf("%w: %d overflows %s", ErrType, i, typeName[T]())
				}
			} else {
				v = T(u)
				if v < 0 || uint64(v) != u {
					return 0, fmt.Errorf("%w: %d overflows %s", ErrType, u, typeName[T]())
				}
			}
			return v, nil
		},
	}
	c.Next = nextInt(c.Decode)
	return c
}

// nextInt finds an integer's size from its first byte, then decodes it.
func nextInt[T any](decode func([]byte) (T, error)) func([]byte) (T, int, error) {
	return func(b []byte) (T, int, error) {
		var zero T
		if len(b) == 0 {
			return zero, 0, fmt.Errorf("%w: not an integer", ErrType)
		}
		n := 1
		switch b[0] {
		case 0xcc, 0xd0:
			n = 2
		case 0xcd, 0xd1:
			n = 3
		case 0xce, 0xd2:
			n = 5
		case 0xcf, 0xd3:
			n = 9
		}
		if n > len(b) {
			return zero, 0, fmt.Errorf("%w: truncated integer", ErrType)
		}
		v, err := decode(b[:n])
		return v, n, err
	}
}

func uintCodec[T unsigned]() Codec[T] {
	c := Codec[T]{
		Append: func(dst []byte, v T) ([]byte, error) { return AppendUint(dst, uint64(v)), nil },
		Decode: func(b []byte) (T, error) {
			_, u, neg, err := decodeInt(b)
			if err != nil {
				return 0, err
			}
			if neg || uint64(T(u)) != u {
				return 0, fmt.Errorf("%w: does not fit %s", ErrType, typeName[T]())
			}
			return T(u), nil
		},
	}
	c.Next = nextInt(c.Decode)
	return c
}
