package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBufferClasses(t *testing.T) {
	for _, n := range []int{0, 1, 1 << 10, 1<<10 + 1, 9 << 10, 256 << 10} {
		b := GetBuffer(n)
		require.Len(t, b, n)
		c := classOf(n)
		require.Equal(t, bufClasses[c], cap(b), "n=%d", n)
		require.LessOrEqual(t, cap(b), n*3/2+1<<10, "a buffer wastes at most about a third")
	}
	big := GetBuffer(256<<10 + 1)
	require.Equal(t, 256<<10+1, cap(big), "beyond the classes, an exact allocation")
	PutBuffer(big) // not kept: no class has its capacity
	PutBuffer(make([]byte, 5, 5000))
}

// A buffer given back is handed out again, for any size in its class, and
// only buffers of a class's exact capacity are kept.
func TestPutBufferReuses(t *testing.T) {
	b := GetBuffer(9000)
	b[0] = 42
	// sync.Pool may drop what it holds (at a collection, or when the test
	// runs on another P), so reuse is asked for until it shows.
	reused := false
	for range 100 {
		PutBuffer(b)
		c := GetBuffer(10000)
		if &c[0] == &b[0] {
			reused = true
			break
		}
		b = c
		b[0] = 42
	}
	require.True(t, reused, "a given-back buffer is handed out again")
}

// Frames whose payload Pooled asks for come from the pool; the header is
// decoded apart, so the payload starts at the buffer's start and the
// contents are exactly those sent.
func TestReaderPooledPayloads(t *testing.T) {
	var buf []byte
	for i := range 50 {
		h := Header{Kind: KindStreamData, ID: uint64(i % 2)}
		var err error
		buf, err = AppendFrame(buf, &h, bytes.Repeat([]byte{byte(i)}, 1000+i*300))
		require.NoError(t, err)
	}
	r := NewReader(bytes.NewReader(buf), 1<<20)
	r.Pooled = func(h *Header) bool { return h.ID == 1 }
	for i := range 50 {
		h, p, err := r.ReadFrame()
		require.NoError(t, err)
		require.Equal(t, uint64(i%2), h.ID)
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, 1000+i*300), p)
		if h.ID == 1 {
			require.Equal(t, bufClasses[classOf(len(p))], cap(p), "frame %d: a pooled buffer", i)
			PutBuffer(p) // the next pooled frame may reuse it
		} else {
			require.Equal(t, len(p), cap(p), "frame %d: an exact allocation", i)
		}
	}
	_, _, err := r.ReadFrame()
	require.ErrorIs(t, err, io.EOF)
}

// A frame cut off inside its payload is an unexpected end, pooled or not.
func TestReaderTruncatedPooledPayload(t *testing.T) {
	h := Header{Kind: KindStreamData, ID: 1}
	b, err := AppendFrame(nil, &h, make([]byte, 5000))
	require.NoError(t, err)
	r := NewReader(bytes.NewReader(b[:len(b)-10]), 1<<20)
	r.Pooled = func(*Header) bool { return true }
	_, _, err = r.ReadFrame()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}
