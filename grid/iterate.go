package grid

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/weir-dev/weir/internal/wire"
)

// partitionChunk bounds the partitions asked of one member in one scan
// request, so responses stay small whatever the map's size.
const partitionChunk = 16

// perOwner runs call for groups of partitions on their owners, retrying
// partitions an owner reports it no longer owns, until all are done.
// call returns the partitions to retry.
func (s *service) perOwner(ctx context.Context, parts []int, chunk int, call func(ctx context.Context, owner string, parts []int) ([]int, error)) error {
	pending := slices.Clone(parts)
	var lastErr error
	for attempt := 0; len(pending) > 0; attempt++ {
		t, err := s.table(ctx)
		if err != nil {
			return errors.Join(err, lastErr)
		}
		groups := map[string][]int{}
		var retry []int
		for _, p := range pending {
			if o := t.Owner(p); o != "" {
				groups[o] = append(groups[o], p)
			} else {
				retry = append(retry, p)
			}
		}
		var mu sync.Mutex
		var fatal error
		var wg sync.WaitGroup
		for owner, ps := range groups {
			for c := range slices.Chunk(ps, chunk) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					again, err := call(ctx, owner, c)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						retry = append(retry, again...)
					case retryable(err):
						lastErr = err
						retry = append(retry, c...)
					case fatal == nil:
						fatal = err
					}
				}()
			}
		}
		wg.Wait()
		if fatal != nil {
			return fatal
		}
		pending = retry
		if len(pending) == 0 {
			return nil
		}
		if err := s.backoff(ctx, attempt, t.Version()); err != nil {
			return fmt.Errorf("%w (last error: %v)", err, lastErr)
		}
	}
	return nil
}

func allPartitions(n int) []int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return ps
}

// Len returns the number of entries in the map: the sum, over partitions,
// of each owner's count when it was asked.
func (mp *Map[K, V]) Len(ctx context.Context) (int, error) {
	ctx, cancel := mp.ctx(ctx)
	defer cancel()
	var mu sync.Mutex
	total := 0
	err := mp.s.perOwner(ctx, allPartitions(mp.s.m.PartitionCount()), 1<<16, func(ctx context.Context, owner string, ps []int) ([]int, error) {
		b, err := wire.Marshal(&lenRequest{Map: mp.name, Parts: ps})
		if err != nil {
			return nil, err
		}
		out, err := mp.s.m.Call(ctx, owner, routeLen, b)
		if err != nil {
			return nil, err
		}
		var resp lenResponse
		if err := wire.Unmarshal(out, &resp); err != nil {
			return nil, err
		}
		mu.Lock()
		total += resp.Count
		mu.Unlock()
		return resp.NotOwned, nil
	})
	return total, opError("len", mp.name, err)
}

// Clear removes every entry, partition by partition on each owner, with
// backups, journal events and listener events like any removal.
func (mp *Map[K, V]) Clear(ctx context.Context) error {
	ctx, cancel := mp.ctx(ctx)
	defer cancel()
	err := mp.s.perOwner(ctx, allPartitions(mp.s.m.PartitionCount()), 1<<16, func(ctx context.Context, owner string, ps []int) ([]int, error) {
		b, err := wire.Marshal(&clearRequest{Map: mp.name, Parts: ps})
		if err != nil {
			return nil, err
		}
		out, err := mp.s.m.Call(ctx, owner, routeClear, b)
		if err != nil {
			return nil, err
		}
		var resp lenResponse
		if err := wire.Unmarshal(out, &resp); err != nil {
			return nil, err
		}
		return resp.NotOwned, nil
	})
	return opError("clear", mp.name, err)
}

// Scan calls fn for every entry until fn returns false.
//
// Consistency: each partition is read whole, from its owner, at one moment
// (between two writes to it); partitions are read at different moments. So
// every entry present for the whole scan is seen exactly once, an entry
// added or removed during the scan may or may not be seen, and a partition
// that migrates during the scan is read from its new owner, once. fn runs on
// the calling goroutine, one partition group at a time.
func (mp *Map[K, V]) Scan(ctx context.Context, fn func(K, V) bool) error {
	return mp.scan(ctx, allPartitions(mp.s.m.PartitionCount()), fn)
}

// ScanPartition is Scan over one partition.
func (mp *Map[K, V]) ScanPartition(ctx context.Context, p int, fn func(K, V) bool) error {
	return mp.scan(ctx, []int{p}, fn)
}

func (mp *Map[K, V]) scan(ctx context.Context, parts []int, fn func(K, V) bool) error {
	ctx, cancel := mp.ctx(ctx)
	defer cancel()
	// Partitions are fetched concurrently but handed to fn one batch at a
	// time, under a lock, so fn needs no synchronisation.
	var mu sync.Mutex
	stopped := false
	errStop := errors.New("stopped")
	err := mp.s.perOwner(ctx, parts, partitionChunk, func(ctx context.Context, owner string, ps []int) ([]int, error) {
		b, err := wire.Marshal(&scanRequest{Map: mp.name, Parts: ps})
		if err != nil {
			return nil, err
		}
		out, err := mp.s.m.Call(ctx, owner, routeScan, b)
		if err != nil {
			return nil, err
		}
		var resp scanResponse
		if err := wire.Unmarshal(out, &resp); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return nil, errStop
		}
		for _, e := range resp.Entries {
			k, err := mp.kc.Decode(e.Key)
			if err != nil {
				return nil, fmt.Errorf("%w: key: %v", ErrWrongType, err)
			}
			v, err := mp.decodeValue(e.Val)
			if err != nil {
				return nil, err
			}
			if !fn(k, v) {
				stopped = true
				return nil, errStop
			}
		}
		return resp.NotOwned, nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return opError("scan", mp.name, err)
}

// All iterates over the map's entries with Scan's consistency. An error
// ends the iteration early and is otherwise lost: use Scan to see it.
func (mp *Map[K, V]) All(ctx context.Context) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		_ = mp.Scan(ctx, yield)
	}
}

// OwnedPartitions lists the partitions this member owns now, for readers
// co-located with the data (such as a job's source vertex).
func (mp *Map[K, V]) OwnedPartitions() []int {
	t := mp.s.servingTable()
	if t == nil {
		return nil
	}
	return t.Owned(mp.s.m.ID())
}

// LocalEntries iterates, without any network call, over the entries of the
// partitions this member owns, one partition at a time, each weakly
// consistent (concurrent writes may or may not be seen). Entries whose key or
// value cannot be decoded into K and V are skipped.
func (mp *Map[K, V]) LocalEntries() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		t := now()
		for _, p := range mp.OwnedPartitions() {
			st, ok := mp.s.parts[p].stores.Load(mp.name)
			if !ok {
				continue
			}
			cont := true
			st.entries.Range(func(kb string, r record) bool {
				if st.expired(kb, t) {
					return true
				}
				k, err := mp.kc.Decode([]byte(kb))
				if err != nil {
					return true
				}
				v, err := mp.vc.Decode([]byte(r.val))
				if err != nil {
					return true
				}
				cont = yield(k, v)
				return cont
			})
			if !cont {
				return
			}
		}
	}
}
