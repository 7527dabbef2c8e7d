package codec

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
)

// The fast paths must produce exactly what the general encoder produces, or
// a key would land in different partitions depending on the path.
func TestFastPathsMatchGeneralEncoding(t *testing.T) {
	strs := []string{"", "a", strings.Repeat("x", 31), strings.Repeat("x", 32), strings.Repeat("x", 255), strings.Repeat("x", 256), strings.Repeat("x", 70000)}
	for _, s := range strs {
		checkSame(t, For[string](), s)
		checkSame(t, For[[]byte](), []byte(s))
	}
	checkSame(t, For[[]byte](), nil)
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxInt32, math.MaxInt32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, i := range ints {
		checkSame(t, For[int64](), i)
		checkSame(t, For[int](), int(i))
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			checkSame(t, For[int32](), int32(i))
		}
		if i >= 0 {
			checkSame(t, For[uint64](), uint64(i))
		}
	}
	checkSame(t, For[uint64](), uint64(math.MaxUint64))
	type point struct{ X, Y int }
	checkSame(t, For[point](), point{1, -2})
	checkSame(t, For[map[string]string](), map[string]string{"b": "2", "a": "1", "c": "3"})
}

func checkSame[T any](t *testing.T, c Codec[T], v T) {
	t.Helper()
	fast, err := c.Encode(v)
	require.NoError(t, err)
	general, err := keys.Encode(v)
	require.NoError(t, err)
	require.Equal(t, general, fast, "%T %v", v, v)
	back, err := c.Decode(fast)
	require.NoError(t, err)
	require.Equal(t, v, back)
}

func TestWrongTypeIsAnError(t *testing.T) {
	s, _ := For[string]().Encode("hello")
	_, err := For[int64]().Decode(s)
	require.ErrorIs(t, err, ErrType)
	i, _ := For[int64]().Encode(300)
	_, err = For[string]().Decode(i)
	require.ErrorIs(t, err, ErrType)
	_, err = For[int8Holder]().Decode(s)
	require.ErrorIs(t, err, ErrType)
	big, _ := For[int64]().Encode(math.MaxInt64)
	_, err = For[int32]().Decode(big)
	require.ErrorIs(t, err, ErrType)
	neg, _ := For[int64]().Encode(-5)
	_, err = For[uint64]().Decode(neg)
	require.ErrorIs(t, err, ErrType)
	_, err = For[[]int]().Decode([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	require.ErrorIs(t, err, ErrType)
}

type int8Holder struct{ V int8 }

func TestNextReadsSequences(t *testing.T) {
	var b []byte
	sc, ic, gc := For[string](), For[int64](), For[[]int]()
	b, _ = sc.Append(b, "hello")
	b, _ = ic.Append(b, -70000)
	b, _ = gc.Append(b, []int{1, 2, 3})
	b, _ = sc.Append(b, strings.Repeat("y", 300))
	s, n, err := sc.Next(b)
	require.NoError(t, err)
	require.Equal(t, "hello", s)
	b = b[n:]
	i, n, err := ic.Next(b)
	require.NoError(t, err)
	require.EqualValues(t, -70000, i)
	b = b[n:]
	g, n, err := gc.Next(b)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, g)
	b = b[n:]
	s, n, err = sc.Next(b)
	require.NoError(t, err)
	require.Len(t, s, 300)
	require.Equal(t, len(b), n)
	_, _, err = sc.Next([]byte{0xdb, 0, 0, 1, 0, 'a'})
	require.ErrorIs(t, err, ErrType)
	_, _, err = ic.Next([]byte{0xcf, 1})
	require.ErrorIs(t, err, ErrType)
}

// For is called per item on hot paths (snapshot entries): it must not
// build a codec each time.
func TestForDoesNotAllocate(t *testing.T) {
	For[int64]()
	For[struct{ A int }]()
	require.Zero(t, testing.AllocsPerRun(100, func() { For[int64]() }))
	require.Zero(t, testing.AllocsPerRun(100, func() { For[struct{ A int }]() }))
}

// SliceFor's loops must write exactly what For's codec writes value by
// value, and read it back, rejecting what For's codec rejects.
func TestSliceCodecMatchesValueCodec(t *testing.T) {
	strs := []string{"", "a", "12345678", strings.Repeat("x", 31), strings.Repeat("x", 32), strings.Repeat("x", 255), strings.Repeat("x", 256), strings.Repeat("x", 70000)}
	// Every length around the word-copy path (8 to 16 bytes), with bytes
	// that differ, so a copy from the wrong offset shows.
	for n := range 20 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i)
		}
		strs = append(strs, string(b))
	}
	checkSlice(t, strs)
	// Only strings of 8 to 16 bytes (the encoder's loop without calls).
	var words []string
	for n := 8; n <= 16; n++ {
		words = append(words, strs[len(strs)-20+n], strings.Repeat("w", n))
	}
	checkSlice(t, words)
	// Runs of one length, broken by other lengths (the decoder's fast path
	// for equal headers, and where it hands over).
	checkSlice(t, []string{"abc", "abd", "abe", "", "xy", "xy", "xyz", "12345678", "12345678", strings.Repeat("y", 40), "q"})
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxInt32 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -129, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	checkSlice(t, ints)
	is := make([]int, len(ints))
	for i, v := range ints {
		is[i] = int(v)
	}
	checkSlice(t, is)
	checkSlice(t, []float64{0, math.Copysign(0, -1), 1.5, -2.25e300, math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64})
	type point struct{ X, Y int }
	checkSlice(t, []point{{1, -2}, {3, 4}})
}

// A float64 sent in another encoding (by another writer) still decodes.
func TestSliceCodecReadsOtherFloatEncodings(t *testing.T) {
	f32, err := keys.Encode(float32(1.5))
	require.NoError(t, err)
	i, err := keys.Encode(7)
	require.NoError(t, err)
	got, n, err := SliceFor[float64]().Next(append(f32, i...), 2, nil)
	require.NoError(t, err)
	require.Equal(t, len(f32)+len(i), n)
	require.Equal(t, []float64{1.5, 7}, got)
	_, _, err = SliceFor[float64]().Next([]byte{0xa1, 'x'}, 1, nil)
	require.ErrorIs(t, err, ErrType)
}

// Integers written by another writer, in encodings longer than the
// shortest, decode as the value codec decodes them, and what it rejects the
// slice codec rejects.
func TestSliceCodecReadsEveryIntEncoding(t *testing.T) {
	be := func(h byte, v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{h}, v) }
	for _, b := range [][]byte{
		be(0xd3, 5), be(0xcf, 7), be(0xd3, 1<<63), be(0xcf, 1<<62), {0xd0, 0xff}, {0xcd, 1, 0}, {0xe0},
		be(0xcf, 1<<63), // over MaxInt64
		be(0xd3, 5)[:5], // truncated
		{0xa1, 'x'},     // a string
		be(0xcb, 1)[:9], // a float
	} {
		want, wantN, wantErr := For[int64]().Next(b)
		got, n, err := SliceFor[int64]().Next(b, 1, nil)
		if wantErr != nil {
			require.ErrorIs(t, err, ErrType, "% x", b)
			continue
		}
		require.NoError(t, err, "% x", b)
		require.Equal(t, []int64{want}, got, "% x", b)
		require.Equal(t, wantN, n, "% x", b)
	}
}

func checkSlice[T any](t *testing.T, vs []T) {
	t.Helper()
	c, sc := For[T](), SliceFor[T]()
	var want []byte
	for _, v := range vs {
		var err error
		want, err = c.Append(want, v)
		require.NoError(t, err)
	}
	got, err := sc.Append([]byte{0xff}, vs)
	require.NoError(t, err)
	require.Equal(t, want, got[1:])
	back, n, err := sc.Next(want, len(vs), nil)
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	require.Equal(t, vs, back)
	for cut := range len(want) {
		_, _, err := sc.Next(want[:cut], len(vs), nil)
		require.ErrorIs(t, err, ErrType, "cut at %d", cut)
	}
}
