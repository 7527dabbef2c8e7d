package codec

import (
	"strings"
	"testing"
)

func BenchmarkSliceCodecStrings(b *testing.B) {
	for _, size := range []int{8, 100} {
		vs := make([]string, 1024)
		for i := range vs {
			vs[i] = strings.Repeat("x", size)
		}
		c := SliceFor[string]()
		enc, _ := c.Append(nil, vs)
		b.Run("append/"+itoa(size), func(b *testing.B) {
			buf := make([]byte, 0, len(enc))
			for range b.N {
				buf, _ = c.Append(buf[:0], vs)
			}
			b.SetBytes(int64(len(enc)))
		})
		b.Run("next/"+itoa(size), func(b *testing.B) {
			out := make([]string, 0, len(vs))
			for range b.N {
				out, _, _ = c.Next(enc, len(vs), out[:0])
			}
			b.SetBytes(int64(len(enc)))
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func BenchmarkSliceCodecFloats(b *testing.B) {
	vs := make([]float64, 1024)
	for i := range vs {
		vs[i] = float64(i) / 3
	}
	for name, c := range map[string]SliceCodec[float64]{"fast": SliceFor[float64](), "general": SliceOf(For[float64]())} {
		enc, _ := c.Append(nil, vs)
		b.Run("append/"+name, func(b *testing.B) {
			buf := make([]byte, 0, len(enc))
			for range b.N {
				buf, _ = c.Append(buf[:0], vs)
			}
		})
		b.Run("next/"+name, func(b *testing.B) {
			out := make([]float64, 0, len(vs))
			for range b.N {
				out, _, _ = c.Next(enc, len(vs), out[:0])
			}
		})
	}
}
