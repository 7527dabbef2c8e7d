package pipeline

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A string key entering a processor's state is copied: decoded from a
// distributed edge, it shares the memory of the whole message it came in.
func TestOwnedCopiesStringKeys(t *testing.T) {
	t.Parallel()
	msg := []byte("a message of which one key is kept")
	k := unsafe.String(&msg[2], 7) // "message", sharing msg's memory
	kept := owned(k)
	require.Equal(t, "message", kept)
	require.NotSame(t, unsafe.StringData(k), unsafe.StringData(kept), "the key still shares the message's memory")
	type pair struct{ A, B int }
	require.Equal(t, pair{1, 2}, owned(pair{1, 2}))
	require.Equal(t, 7, owned(7))
}
