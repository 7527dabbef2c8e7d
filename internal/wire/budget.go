package wire

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// DecodeRatio bounds what decoding untrusted bytes may cost: Unmarshal
// refuses a value whose decoding into its destination would allocate more
// than DecodeRatio times its encoded size, plus decodeSlack bytes.
//
// Validate alone bounds declared lengths by the bytes present, but one byte
// can still stand for a large Go value: an array of n nils decodes into n
// zero structs, each hundreds of bytes. The estimate follows the
// destination's type (each array element costs its Go size, each map entry
// its key and value sizes, each string its bytes), so an honest message,
// whose elements carry their fields, stays far below the bound, while a
// request padded with empty elements is refused before anything is decoded.
const DecodeRatio = 32

// decodeSlack lets small values decode into large zeroed structures.
const decodeSlack = 64 << 10

// ErrTooCostly is returned by Unmarshal for bytes that would decode into far
// more memory than they take.
var ErrTooCostly = fmt.Errorf("%w: decoding would cost more than %d times its size", ErrInvalidMsgpack, DecodeRatio)

// CheckCost reports ErrTooCostly when decoding b, which Validate accepted,
// into a value of v's type would allocate more than the bound DecodeRatio
// sets.
func CheckCost(b []byte, v any) error {
	w := costWalker{b: b, budget: int64(DecodeRatio)*int64(len(b)) + decodeSlack}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	w.walk(t)
	if w.over() {
		return fmt.Errorf("%w: %d bytes would decode into more than %d", ErrTooCostly, len(b), w.budget)
	}
	return nil
}

// costWalker walks one validated msgpack value beside the Go type it
// decodes into, adding up an upper estimate of the bytes allocated.
type costWalker struct {
	b      []byte
	i      int
	cost   int64
	budget int64
}

func (w *costWalker) over() bool { return w.cost > w.budget }

// value kinds, as the walker needs them.
const (
	vNil = iota
	vScalar
	vStr
	vBin
	vExt
	vArray
	vMap
)

// head reads the header of the value at w.i: its kind, its length (bytes
// for strings, binaries and extensions, elements for arrays, pairs for
// maps), and leaves w.i at its payload or first element.
func (w *costWalker) head() (kind, n int) {
	b := w.b
	c := b[w.i]
	w.i++
	length := func(size int) int {
		var v int
		switch size {
		case 1:
			v = int(b[w.i])
		case 2:
			v = int(binary.BigEndian.Uint16(b[w.i:]))
		case 4:
			v = int(binary.BigEndian.Uint32(b[w.i:]))
		}
		w.i += size
		return v
	}
	switch {
	case c == 0xc0:
		return vNil, 0
	case c <= 0x7f, c >= 0xe0, c == 0xc2, c == 0xc3:
		return vScalar, 0
	case c&0xe0 == 0xa0:
		return vStr, int(c & 0x1f)
	case c&0xf0 == 0x90:
		return vArray, int(c & 0x0f)
	case c&0xf0 == 0x80:
		return vMap, int(c & 0x0f)
	case c == 0xcc, c == 0xd0:
		w.i++
	case c == 0xcd, c == 0xd1:
		w.i += 2
	case c == 0xce, c == 0xd2, c == 0xca:
		w.i += 4
	case c == 0xcf, c == 0xd3, c == 0xcb:
		w.i += 8
	case c >= 0xd4 && c <= 0xd8: // fixext: type byte, then 1..16 bytes
		return vExt, 1 + 1<<(c-0xd4)
	case c == 0xd9:
		return vStr, length(1)
	case c == 0xda:
		return vStr, length(2)
	case c == 0xdb:
		return vStr, length(4)
	case c == 0xc4:
		return vBin, length(1)
	case c == 0xc5:
		return vBin, length(2)
	case c == 0xc6:
		return vBin, length(4)
	case c == 0xc7, c == 0xc8, c == 0xc9:
		return vExt, length(1<<(c-0xc7)) + 1
	case c == 0xdc:
		return vArray, length(2)
	case c == 0xdd:
		return vArray, length(4)
	case c == 0xde:
		return vMap, length(2)
	case c == 0xdf:
		return vMap, length(4)
	}
	return vScalar, 0
}

var (
	customDecoder = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshaler   = reflect.TypeFor[msgpack.Unmarshaler]()
)

// walk adds the cost of decoding the value at w.i into a t (nil: into an
// interface, msgpack's generic types) and moves past it.
func (w *costWalker) walk(t reflect.Type) {
	if w.over() {
		return
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(customDecoder) || reflect.PointerTo(t).Implements(unmarshaler)) {
		t = nil // decoded by code of its own or into generic values: count those
	}
	kind, n := w.head()
	if t != nil && t.Kind() == reflect.Pointer {
		if kind != vNil {
			w.cost += int64(t.Elem().Size())
		}
		t = t.Elem()
	}
	switch kind {
	case vNil, vScalar:
		if t == nil {
			w.cost += 8 // boxed in an interface
		}
	case vStr, vBin, vExt:
		w.i += n
		w.cost += int64(n)
		if t == nil {
			w.cost += 24
		}
	case vArray:
		var elem reflect.Type
		switch {
		case t == nil:
			w.cost += 24 + 16*int64(n)
		case t.Kind() == reflect.Slice:
			elem = t.Elem()
			w.cost += 24 + int64(n)*int64(elem.Size())
		case t.Kind() == reflect.Array:
			elem = t.Elem()
		case t.Kind() == reflect.Struct:
			fields := structFieldsOf(t)
			for k := range n {
				var ft reflect.Type
				if k < len(fields.list) {
					ft = fields.list[k]
				}
				w.walk(ft)
			}
			return
		}
		for range n {
			w.walk(elem)
		}
	case vMap:
		switch {
		case t == nil:
			w.cost += 48 + 64*int64(n)
			for range 2 * n {
				w.walk(nil)
			}
		case t.Kind() == reflect.Map:
			w.cost += 48 + 2*int64(n)*int64(t.Key().Size()+t.Elem().Size()+8)
			for range n {
				w.walk(t.Key())
				w.walk(t.Elem())
			}
		case t.Kind() == reflect.Struct:
			fields := structFieldsOf(t)
			for range n {
				name, ok := w.peekString()
				w.walk(nil)
				var ft reflect.Type
				if ok {
					ft = fields.byName[name]
				}
				w.walk(ft)
			}
		default:
			for range 2 * n {
				w.walk(nil)
			}
		}
	}
}

// peekString returns the string at w.i without moving past it.
func (w *costWalker) peekString() (string, bool) {
	save := w.i
	kind, n := w.head()
	start := w.i
	w.i = save
	if kind != vStr {
		return "", false
	}
	return string(w.b[start : start+n]), true
}

// structFields is how msgpack/v5 maps a struct's encoded fields to its Go
// fields: by name (the msgpack tag or the field name) for the map form, in
// order for the array form; embedded structs without a tag are inlined.
type structFields struct {
	byName map[string]reflect.Type
	list   []reflect.Type
}

var structCache sync.Map // reflect.Type -> *structFields

func structFieldsOf(t reflect.Type) *structFields {
	if f, ok := structCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	addFields(f, t, 0)
	structCache.Store(t, f)
	return f
}

func addFields(f *structFields, t reflect.Type, depth int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("msgpack")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || sf.Name == "_msgpack" {
			continue
		}
		ft := sf.Type
		if sf.Anonymous && name == "" && depth < 8 {
			inner := ft
			if inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct && !strings.Contains(tag, "noinline") {
				addFields(f, inner, depth+1)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.byName[name]; !dup {
			f.byName[name] = ft
			f.list = append(f.list, ft)
		}
	}
}
