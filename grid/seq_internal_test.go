package grid

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// The near cache's freshness argument (see nearCache) rests on the
// sequence an owner reports with a read (part.read): a value found is exactly
// the last write to its key numbered up to that sequence, and a key found
// absent was absent after some write numbered up to it. Otherwise a read can
// answer "value before write S, sequence S", and the invalidation of write S
// does not drop that value from a near cache: it is served until the key is
// written again.
//
// This test writes one key as fast as it can, alternating stores and
// removals, while reads check the sequences they get; it needs no cluster
// because the race is between mutateLocked and a lock-free reader.
func TestReadSequenceMatchesTheValueRead(t *testing.T) {
	t.Parallel()
	s := &service{}
	s.subs.init()
	p := newPart(0)
	st := newStore("m", storeConfig{})
	p.stores.Put(st)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var ch changes
			p.mu.Lock()
			if i%3 == 2 {
				old := "x"
				s.mutateLocked(p, st, "k", nil, 0, 0, Removed, &old, &ch)
			} else {
				s.mutateLocked(p, st, "k", &record{val: strconv.Itoa(i)}, 0, 0, Updated, nil, &ch)
			}
			p.mu.Unlock()
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// Only "k" is written, and write number w (from 1) is a removal when
	// w%3 == 0. A read at sequence seq must be explained by the writes: a
	// value found is write seq itself; an absence follows a removal numbered
	// between the sequence published before the read began and seq.
	removalIn := func(lo, hi uint64) bool {
		first := (max(lo, 1) + 2) / 3 * 3
		return first <= hi
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	reads := 0
	for time.Now().Before(deadline) {
		for range 1000 {
			before := p.seq.Load()
			r, ok, seq := p.read(st, "k")
			reads++
			if ok && r.seq != seq {
				t.Fatalf("read reported sequence %d with the value of write %d", seq, r.seq)
			}
			if !ok && before > 0 && !removalIn(before, seq) {
				t.Fatalf("read reported sequence %d with no value, but no write from %d to %d removed it", seq, before, seq)
			}
		}
	}
	t.Logf("%d reads", reads)
}
