package wire

import "sync"

// bufClasses are the capacities of pooled payload buffers: close enough
// together that a payload wastes at most a third of its buffer, up to the
// largest frame a distributed edge sends in the usual case.
var bufClasses = [...]int{
	1 << 10, 2 << 10, 3 << 10, 4 << 10, 6 << 10, 8 << 10, 12 << 10, 16 << 10,
	24 << 10, 32 << 10, 48 << 10, 64 << 10, 96 << 10, 128 << 10, 192 << 10, 256 << 10,
}

// maxPooled is the largest payload read into a pooled buffer.
const maxPooled = 256 << 10

// bufPools holds one pool per class. A pool holds *[]byte, whose slices
// have exactly their class's capacity.
var bufPools [len(bufClasses)]sync.Pool

// classOf is the smallest class of at least n bytes, or -1 when n is over
// the largest.
func classOf(n int) int {
	for i, c := range bufClasses {
		if n <= c {
			return i
		}
	}
	return -1
}

// GetBuffer returns a slice of n bytes whose contents are undefined: a
// buffer given back with PutBuffer when one of the right size is pooled,
// otherwise a new one. Its capacity is the class size, which may exceed n.
func GetBuffer(n int) []byte {
	c := classOf(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, bufClasses[c])
}

// PutBuffer gives b back for GetBuffer to hand out again. The caller must
// be done with b and with everything that refers to its memory: strings and
// slices decoded from it change when the buffer is reused. Only slices whose
// capacity is exactly a class size are kept (those GetBuffer makes); others
// are left to the garbage collector.
func PutBuffer(b []byte) {
	c := classOf(cap(b))
	if c < 0 || cap(b) != bufClasses[c] {
		return
	}
	b = b[:0]
	bufPools[c].Put(&b)
}
