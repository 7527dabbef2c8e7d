package benchref

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The references count what the pipeline job must count: n items mapped
// to 3i+1 and kept when even, so every odd i.
func TestReferencesCountTheSame(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 1001} {
		want := n / 2
		if got := Loop(n); got != want {
			t.Errorf("Loop(%d) = %d, want %d", n, got, want)
		}
		if got := Channels(n); got != want {
			t.Errorf("Channels(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestTCPCopy(t *testing.T) {
	if _, err := TCPCopy(3<<20 + 7); err != nil {
		t.Fatal(err)
	}
}

func TestEncodedSize(t *testing.T) {
	for n, want := range map[int]int64{0: 1, 8: 9, 31: 32, 32: 34, 255: 257, 256: 259, 65536: 65541} {
		if got := EncodedSize(n); got != want {
			t.Errorf("EncodedSize(%d) = %d, want %d", n, got, want)
		}
	}
	if got, want := (EdgeParams{Ints: true}).Encoded(), int64(len(codec.AppendInt(nil, EdgeInt))); got != want {
		t.Errorf("int64 items encode in %d bytes, Encoded says %d", want, got)
	}
}
