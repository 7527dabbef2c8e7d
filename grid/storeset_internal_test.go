package grid

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// storeSet against a plain map, across the switch from scanning to an
// index, with readers running while it changes.
func TestStoreSet(t *testing.T) {
	t.Parallel()
	var ss storeSet
	want := map[string]*store{}
	check := func() {
		t.Helper()
		for name, st := range want {
			got, ok := ss.Load(name)
			require.True(t, ok, name)
			require.Same(t, st, got, name)
		}
		_, ok := ss.Load("absent")
		require.False(t, ok)
		seen := map[string]*store{}
		ss.Range(func(name string, st *store) bool {
			require.Equal(t, st.name, name)
			seen[name] = st
			return true
		})
		require.Equal(t, want, seen)
	}
	var readers sync.WaitGroup
	stop := make(chan struct{})
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ss.Range(func(name string, st *store) bool {
				got, ok := ss.Load(name)
				if ok && got.name != name {
					t.Errorf("Load(%q) returned the store of %q", name, got.name)
				}
				return true
			})
		}
	}()
	for i := range 3 * storeSetScan {
		st := newStore(fmt.Sprintf("m%d", i), storeConfig{})
		ss.Put(st)
		want[st.name] = st
		check()
	}
	// Replacing keeps one store per name, below and above the index size.
	for _, name := range []string{"m0", fmt.Sprintf("m%d", 3*storeSetScan-1)} {
		st := newStore(name, storeConfig{MaxEntries: 7})
		ss.Put(st)
		want[name] = st
		check()
	}
	n := 0
	ss.Range(func(string, *store) bool { n++; return n < 3 })
	require.Equal(t, 3, n, "Range goes on after fn returned false")
	close(stop)
	readers.Wait()
	ss.Clear()
	want = map[string]*store{}
	check()
}
