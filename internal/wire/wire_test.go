package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestFrameRoundTrip(t *testing.T) {
	headers := []Header{
		{Kind: KindRequest, ID: 1, Route: "map.get", Timeout: 5_000_000},
		{Kind: KindResponse, ID: 1<<64 - 1, Code: "not-owner", Message: strings.Repeat("x", 300)},
		{Kind: KindStreamData, ID: 70000},
		{Kind: KindOneWay, Route: strings.Repeat("r", 70)},
	}
	var buf []byte
	for i, h := range headers {
		var err error
		buf, err = AppendFrame(buf, &h, bytes.Repeat([]byte{byte(i)}, i*1000))
		require.NoError(t, err)
	}
	r := NewReader(bytes.NewReader(buf), 1<<20)
	for i, want := range headers {
		h, p, err := r.ReadFrame()
		require.NoError(t, err)
		require.Equal(t, want, h)
		require.Equal(t, i*1000, len(p))
	}
	_, _, err := r.ReadFrame()
	require.ErrorIs(t, err, io.EOF)
}

// The hand-written header must be plain msgpack, readable by the library.
func TestHeaderIsMsgpack(t *testing.T) {
	h := Header{Kind: KindRequest, ID: 300, Route: "job.submit", Code: "c", Message: "m", Timeout: 1 << 40}
	b := appendHeader(nil, &h)
	require.Equal(t, headerSize(&h), len(b))
	var fields []any
	require.NoError(t, msgpack.Unmarshal(b, &fields))
	require.Len(t, fields, headerFields)
	require.EqualValues(t, 300, fields[1])
	require.Equal(t, "job.submit", fields[2])

	// And what the library writes, the hand-written decoder reads.
	lib, err := msgpack.Marshal([]any{uint8(KindResponse), uint64(1 << 33), "r", "", "boom", uint64(0)})
	require.NoError(t, err)
	got, err := DecodeHeader(lib)
	require.NoError(t, err)
	require.Equal(t, Header{Kind: KindResponse, ID: 1 << 33, Route: "r", Message: "boom"}, got)
}

func TestReaderRefusesOversizedFrameBeforeReading(t *testing.T) {
	var b [6]byte
	binary.BigEndian.PutUint32(b[:], 1<<31)
	// The reader sees only the length: a body that is never sent must not be awaited.
	r := NewReader(io.MultiReader(bytes.NewReader(b[:]), blockingReader{}), MinFrameLimit)
	_, _, err := r.ReadFrame()
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.Contains(t, err.Error(), "2147483648 bytes")
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { panic("read past an oversized length") }

func TestReaderRejectsMalformed(t *testing.T) {
	cases := map[string][]byte{
		"header longer than frame": {0, 0, 0, 3, 0, 9, 0x96},
		"not an array":             {0, 0, 0, 3, 0, 1, 0xc0},
		"unknown kind":             frameBytes(t, []byte{0x96, 99, 0, 0xa0, 0xa0, 0xa0, 0}),
		"string past end":          frameBytes(t, []byte{0x96, 2, 0, 0xdb, 0xff, 0xff, 0xff, 0xff}),
		"trailing header bytes":    frameBytes(t, []byte{0x96, 2, 0, 0xa0, 0xa0, 0xa0, 0, 0}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := NewReader(bytes.NewReader(b), 1<<20).ReadFrame()
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	_, _, err := NewReader(bytes.NewReader([]byte{0, 0, 0, 40, 0, 1}), 1<<20).ReadFrame()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func frameBytes(t *testing.T, header []byte) []byte {
	t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(2+len(header)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(header)))
	return append(b, header...)
}

func TestValidate(t *testing.T) {
	type inner struct {
		A []string
		M map[string]int
		B []byte
	}
	good, err := msgpack.Marshal(map[string]any{
		"x": []inner{{A: []string{"a", "b"}, M: map[string]int{"k": -3}, B: []byte{1, 2}}},
		"f": 1.5, "t": true, "n": nil, "i": int64(-1 << 40), "u": uint64(1 << 63),
	})
	require.NoError(t, err)
	require.NoError(t, Validate(good))

	bad := map[string][]byte{
		"array32 of 4G elements":  {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 of 4G entries":     {0xdf, 0xff, 0xff, 0xff, 0xff},
		"str32 past the end":      {0xdb, 0, 0, 1, 0, 'a'},
		"bin32 past the end":      {0xc6, 0x7f, 0xff, 0xff, 0xff},
		"ext32 past the end":      {0xc9, 0x7f, 0xff, 0xff, 0xff, 1},
		"truncated":               {0x92, 0x01},
		"trailing bytes":          {0x01, 0x02},
		"unknown type byte":       {0xc1},
		"empty":                   {},
		"fixarray more than left": {0x9f, 1, 2},
	}
	for name, b := range bad {
		require.ErrorIs(t, Validate(b), ErrInvalidMsgpack, name)
	}
	deep := append(bytes.Repeat([]byte{0x91}, MaxDepth+1), 0x01)
	require.ErrorIs(t, Validate(deep), ErrInvalidMsgpack)
	require.NoError(t, Validate(append(bytes.Repeat([]byte{0x91}, MaxDepth), 0x01)))
}

func TestUnmarshalDoesNotTrustLengths(t *testing.T) {
	type msg struct{ Items []struct{ A, B, C, D int64 } }
	var m msg
	err := Unmarshal([]byte{0x81, 0xa5, 'I', 't', 'e', 'm', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}, &m)
	require.ErrorIs(t, err, ErrInvalidMsgpack)
	require.True(t, errors.Is(err, ErrInvalidMsgpack))
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader and the msgpack
// validator/decoder and checks that nothing panics and that memory allocated
// per input stays within a small multiple of the input.
func FuzzReadFrame(f *testing.F) {
	var seed []byte
	seed, _ = AppendFrame(seed, &Header{Kind: KindRequest, ID: 7, Route: "map.put"}, []byte{0x92, 0xa1, 'k', 0xc4, 1, 9})
	f.Add(seed)
	f.Add([]byte{0, 0, 0, 9, 0, 7, 0x96, 2, 0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa5, 'I', 't', 'e', 'm', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	type target struct {
		Name  string
		Items []struct{ A, B, C, D int64 }
		Tags  map[string][]byte
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := NewReader(bytes.NewReader(in), MinFrameLimit)
		for {
			h, p, err := r.ReadFrame()
			if err != nil {
				break
			}
			_ = h.Kind.String()
			var v target
			_ = Unmarshal(p, &v)
		}
		var v target
		_ = Unmarshal(in, &v)
		runtime.ReadMemStats(&after)
		// Every element declared must be backed by an input byte, so the
		// decoder allocates at most (element size) x (input size) plus buffers.
		limit := uint64(256*len(in) + 1<<20)
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Fatalf("allocated %d bytes for %d input bytes (limit %d)", got, len(in), limit)
		}
	})
}

// A frame that declares a large payload and stops costs the bytes that
// arrived, not the bytes declared: the buffer grows as they come.
func TestReaderGrowsWithArrivingBytes(t *testing.T) {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 60<<20)
	h := appendHeader(nil, &Header{Kind: KindRequest, ID: 1, Route: "map.batch"})
	b = binary.BigEndian.AppendUint16(b, uint16(len(h)))
	b = append(b, h...)
	b = append(b, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(b), 64<<20)
	_, _, err := r.ReadFrame()
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.True(t, r.InFrame(), "the reader stopped inside a frame")
	got := after.TotalAlloc - before.TotalAlloc
	require.Less(t, got, uint64(1<<20), "allocated %d bytes for a frame of which 1000 bytes arrived", got)

	// A full large frame still reads whole, through the grown buffer.
	payload := bytes.Repeat([]byte{7}, 3<<20+5)
	full, err := AppendFrame(nil, &Header{Kind: KindOneWay, Route: "x"}, payload)
	require.NoError(t, err)
	r = NewReader(bytes.NewReader(full), 64<<20)
	_, p, err := r.ReadFrame()
	require.NoError(t, err)
	require.Equal(t, payload, p)
	require.False(t, r.InFrame())
}
