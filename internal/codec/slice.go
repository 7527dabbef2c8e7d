package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/weir-dev/weir/internal/wire"
)

// SliceCodec encodes and decodes runs of values of type T, such as the
// items of a batch on a distributed edge. Its bytes are exactly those of
// Codec[T] applied to each value in turn; it exists because a call through
// Codec's function fields per value costs more than the encoding of a small
// value itself.
type SliceCodec[T any] struct {
	// Append appends the encoding of every value of vs to dst.
	Append func(dst []byte, vs []T) ([]byte, error)
	// Next decodes n values from the start of b, appends them to vs and
	// returns the number of bytes read. Like Codec.Next, strings and byte
	// slices it returns may share memory with b.
	Next func(b []byte, n int, vs []T) ([]T, int, error)
}

// SliceFor returns the slice codec for T: a hand-written loop for strings
// and integers, otherwise a loop over For[T].
func SliceFor[T any]() SliceCodec[T] {
	var zero T
	switch any(zero).(type) {
	case string:
		return any(SliceCodec[string]{Append: appendStrings, Next: nextStrings}).(SliceCodec[T])
	case int64:
		return any(SliceCodec[int64]{Append: appendInts[int64], Next: nextInts(For[int64]())}).(SliceCodec[T])
	case int:
		return any(SliceCodec[int]{Append: appendInts[int], Next: nextInts(For[int]())}).(SliceCodec[T])
	case float64:
		return any(SliceCodec[float64]{Append: appendFloats, Next: nextFloats}).(SliceCodec[T])
	}
	return SliceOf(For[T]())
}

// SliceOf makes a slice codec that loops over c.
func SliceOf[T any](c Codec[T]) SliceCodec[T] {
	return SliceCodec[T]{Append: appendVals(c), Next: nextVals(c)}
}

func appendVals[T any](c Codec[T]) func([]byte, []T) ([]byte, error) {
	return func(dst []byte, vs []T) ([]byte, error) {
		for _, v := range vs {
			var err error
			if dst, err = c.Append(dst, v); err != nil {
				return dst, fmt.Errorf("encode %T: %w", v, err)
			}
		}
		return dst, nil
	}
}

func nextVals[T any](c Codec[T]) func([]byte, int, []T) ([]T, int, error) {
	return func(b []byte, n int, vs []T) ([]T, int, error) {
		off := 0
		for range n {
			v, size, err := c.Next(b[off:])
			if err != nil {
				return vs, off, err
			}
			vs = append(vs, v)
			off += size
		}
		return vs, off, nil
	}
}

// appendInts writes the small integers (fixints) and the large ones (eight
// bytes) itself, the common cases of counts and of ids and timestamps, and
// leaves the sizes between to AppendInt.
func appendInts[T ~int | ~int64](dst []byte, vs []T) ([]byte, error) {
	dst = slices.Grow(dst, 9*len(vs))
	for _, v := range vs {
		switch x := int64(v); {
		case x >= -32 && x <= 0x7f:
			dst = append(dst, byte(x)) // a positive or negative fixint
		case x < math.MinInt32:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(x))
		case x > math.MaxUint32:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(x))
		default:
			dst = AppendInt(dst, x)
		}
	}
	return dst, nil
}

// nextInts reads the encodings appendInts writes itself and leaves the
// others to the general decoder c, so it accepts and rejects exactly what c
// does.
func nextInts[T ~int | ~int64](c Codec[T]) func([]byte, int, []T) ([]T, int, error) {
	return func(b []byte, n int, vs []T) ([]T, int, error) {
		if n > len(b) {
			return vs, 0, fmt.Errorf("%w: %d integers in %d bytes", ErrType, n, len(b))
		}
		start := len(vs)
		vs = slices.Grow(vs, n)[:start+n]
		out := vs[start:]
		off := 0
		for i := range out {
			if off < len(b) {
				switch h := b[off]; {
				case h <= 0x7f: // positive fixint
					out[i] = T(h)
					off++
					continue
				case h >= 0xe0: // negative fixint
					out[i] = T(int8(h))
					off++
					continue
				case (h == 0xd3 || h == 0xcf) && off+9 <= len(b):
					x := int64(binary.BigEndian.Uint64(b[off+1:]))
					if (h == 0xd3 || x >= 0) && int64(T(x)) == x {
						out[i] = T(x)
						off += 9
						continue
					}
				}
			}
			v, size, err := c.Next(b[off:])
			if err != nil {
				return vs[:start+i], off, err
			}
			out[i] = v
			off += size
		}
		return vs, off, nil
	}
}

// appendStrings grows dst once for the whole run, then writes each header
// and string. A string of 8 to 16 bytes (the common size of ids and codes)
// is copied with two overlapping word loads and stores, which cost less
// than a call to memmove; a run made only of such strings takes a loop with
// no calls and no bounds checks, whose values stay in registers.
func appendStrings(dst []byte, vs []string) ([]byte, error) {
	need, words := 0, 0
	for _, s := range vs {
		need += 5 + len(s)
		if uint(len(s)-8) <= 8 {
			words++
		}
	}
	dst = slices.Grow(dst, need)
	if words == len(vs) {
		return appendWordStrings(dst, vs), nil
	}
	for _, s := range vs {
		n := len(s)
		if n < 32 {
			dst = append(dst, 0xa0|byte(n))
		} else {
			dst = appendStrHeader(dst, n)
		}
		if n < 8 || n > 16 {
			dst = append(dst, s...)
			continue
		}
		o := len(dst)
		d := dst[o : o+n] // within the capacity grown above
		p := unsafe.Pointer(unsafe.StringData(s))
		*(*[8]byte)(d[n-8:]) = *(*[8]byte)(unsafe.Add(p, n-8))
		*(*[8]byte)(d) = *(*[8]byte)(p)
		dst = dst[:o+n]
	}
	return dst, nil
}

// appendWordStrings appends vs, strings of 8 to 16 bytes each, to dst,
// which has room for 1+len(s) bytes per string.
func appendWordStrings(dst []byte, vs []string) []byte {
	o := len(dst)
	base := unsafe.Pointer(unsafe.SliceData(dst))
	for _, s := range vs {
		n := len(s)
		d := unsafe.Add(base, o)
		p := unsafe.Pointer(unsafe.StringData(s))
		*(*byte)(d) = 0xa0 | byte(n)
		*(*[8]byte)(unsafe.Add(d, n-7)) = *(*[8]byte)(unsafe.Add(p, n-8))
		*(*[8]byte)(unsafe.Add(d, 1)) = *(*[8]byte)(p)
		o += 1 + n
	}
	return dst[:o]
}

// appendStrHeader writes the header of a string of n >= 32 bytes.
func appendStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 256:
		return append(dst, 0xd9, byte(n))
	case n <= 0xffff:
		return append(dst, 0xda, byte(n>>8), byte(n))
	}
	return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// nextStrings aliases b: every string shares b's memory. vs grows once,
// then each string is stored by index.
func nextStrings(b []byte, n int, vs []string) ([]string, int, error) {
	if len(b) == 0 {
		if n == 0 {
			return vs, 0, nil
		}
		return vs, 0, fmt.Errorf("%w: not a string", ErrType)
	}
	if n > len(b) {
		return vs, 0, fmt.Errorf("%w: %d strings in %d bytes", ErrType, n, len(b))
	}
	all := unsafe.String(&b[0], len(b))
	start := len(vs)
	vs = slices.Grow(vs, n)[:start+n]
	out := vs[start:]
	off, i := 0, 0
	// Runs of strings of one length below 32 bytes (fixed-size items:
	// ids, codes) share one header byte: while it repeats, each string is
	// one compare and one store.
	if h := b[0]; h&0xe0 == 0xa0 && h != 0xa0 {
		size := int(h & 0x1f)
		// String k spans b[k*(size+1)+1 : (k+1)*(size+1)]: no bounds checks
		// are needed below k = len(b)/(size+1).
		base := unsafe.Pointer(unsafe.SliceData(b))
		for k := min(len(out), len(b)/(size+1)); i < k && *(*byte)(unsafe.Add(base, off)) == h; i++ {
			out[i] = unsafe.String((*byte)(unsafe.Add(base, off+1)), size)
			off += size + 1
		}
	}
	for ; i < len(out); i++ {
		if off >= len(b) {
			return vs[:start+i], off, fmt.Errorf("%w: not a string", ErrType)
		}
		size, hdr := 0, 1
		if c := b[off]; c&0xe0 == 0xa0 {
			size = int(c & 0x1f)
		} else {
			var ok bool
			if size, hdr, ok = wire.StrHeader(b[off:]); !ok {
				if c == 0xc0 {
					out[i] = "" // nil decodes to the zero value
					off++
					continue
				}
				return vs[:start+i], off, fmt.Errorf("%w: not a string", ErrType)
			}
		}
		end := off + hdr + size
		if end > len(b) || end < off {
			return vs[:start+i], off, fmt.Errorf("%w: not a string", ErrType)
		}
		out[i] = all[off+hdr : end]
		off = end
	}
	return vs, off, nil
}

// appendFloats writes msgpack float64s, as the general encoder does: floats
// had no fast path, so each went through reflection and an allocation.
func appendFloats(dst []byte, vs []float64) ([]byte, error) {
	dst = slices.Grow(dst, 9*len(vs))
	for _, v := range vs {
		dst = binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(v))
	}
	return dst, nil
}

// nextFloats reads msgpack float64s itself and leaves any other encoding
// (a float32, an integer) to the general decoder, so it accepts and rejects
// exactly what For[float64] does.
func nextFloats(b []byte, n int, vs []float64) ([]float64, int, error) {
	off := 0
	for range n {
		if off+9 <= len(b) && b[off] == 0xcb {
			vs = append(vs, math.Float64frombits(binary.BigEndian.Uint64(b[off+1:])))
			off += 9
			continue
		}
		v, size, err := floatCodec.Next(b[off:])
		if err != nil {
			return vs, off, err
		}
		vs = append(vs, v)
		off += size
	}
	return vs, off, nil
}

var floatCodec = For[float64]()
