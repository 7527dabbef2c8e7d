package wire

import (
	"encoding/binary"
	"fmt"
)

// The header is the msgpack array [kind, id, route, code, message, timeout],
// written and read by hand: it is on every frame and must be cheap and safe.
const headerFields = 6

func appendHeader(b []byte, h *Header) []byte {
	b = append(b, 0x90|headerFields) // fixarray
	b = appendUint(b, uint64(h.Kind))
	b = appendUint(b, h.ID)
	b = appendString(b, h.Route)
	b = appendString(b, h.Code)
	b = appendString(b, h.Message)
	return appendUint(b, h.Timeout)
}

func headerSize(h *Header) int {
	return 1 + uintSize(uint64(h.Kind)) + uintSize(h.ID) + stringSize(h.Route) +
		stringSize(h.Code) + stringSize(h.Message) + uintSize(h.Timeout)
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0xcc, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
	}
}

func uintSize(v uint64) int {
	switch {
	case v <= 0x7f:
		return 1
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func stringSize(s string) int {
	n := len(s)
	switch {
	case n <= 31:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	default:
		return 5 + n
	}
}

// DecodeHeader decodes a header, checking every length against the bytes
// that remain.
func DecodeHeader(b []byte) (Header, error) {
	d := headerDecoder{b: b}
	if len(b) == 0 || b[0] != 0x90|headerFields {
		return Header{}, fmt.Errorf("%w: header is not a %d-element array", ErrMalformed, headerFields)
	}
	d.i = 1
	var h Header
	kind := d.uint()
	h.ID = d.uint()
	h.Route = d.string()
	h.Code = d.string()
	h.Message = d.string()
	h.Timeout = d.uint()
	if d.err != nil {
		return Header{}, d.err
	}
	if d.i != len(b) {
		return Header{}, fmt.Errorf("%w: %d trailing header bytes", ErrMalformed, len(b)-d.i)
	}
	if kind == 0 || kind > uint64(kindMax) {
		return Header{}, fmt.Errorf("%w: unknown frame kind %d", ErrMalformed, kind)
	}
	h.Kind = Kind(kind)
	return h, nil
}

type headerDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *headerDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at header byte %d", ErrMalformed, what, d.i)
	}
}

func (d *headerDecoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || len(d.b)-d.i < n {
		d.fail("length")
		return false
	}
	return true
}

func (d *headerDecoder) uint() uint64 {
	if !d.need(1) {
		return 0
	}
	c := d.b[d.i]
	d.i++
	var n int
	switch {
	case c <= 0x7f:
		return uint64(c)
	case c == 0xcc:
		n = 1
	case c == 0xcd:
		n = 2
	case c == 0xce:
		n = 4
	case c == 0xcf:
		n = 8
	default:
		d.i--
		d.fail("unsigned integer")
		return 0
	}
	if !d.need(n) {
		return 0
	}
	var v uint64
	for _, x := range d.b[d.i : d.i+n] {
		v = v<<8 | uint64(x)
	}
	d.i += n
	return v
}

func (d *headerDecoder) string() string {
	if !d.need(1) {
		return ""
	}
	c := d.b[d.i]
	d.i++
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9 && d.need(1):
		n = int(d.b[d.i])
		d.i++
	case c == 0xda && d.need(2):
		n = int(binary.BigEndian.Uint16(d.b[d.i:]))
		d.i += 2
	case c == 0xdb && d.need(4):
		n = int(binary.BigEndian.Uint32(d.b[d.i:]))
		d.i += 4
	default:
		d.i--
		d.fail("string")
		return ""
	}
	if !d.need(n) {
		return ""
	}
	s := string(d.b[d.i : d.i+n])
	d.i += n
	return s
}
