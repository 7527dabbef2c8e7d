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

// Scan calls fn for every entry until fn returns false, and returns the
// error that ended the scan early, if any: an entry that cannot be decoded
// into K and V (ErrWrongType), a member shut down, the context done.
//
// Consistency: each partition is read whole, from its owner, at one moment
// (between two writes to it); partitions are read at different moments. So
// every entry present for the whole scan is seen exactly once, an entry
// added or removed during the scan may or may not be seen, and a partition
// that migrates during the scan is read from its new owner, once. It is not
// a snapshot of the whole map. fn runs on the calling goroutine, never
// concurrently with itself; partitions are fetched from their owners in
// parallel meanwhile, a few at a time. Without a deadline on ctx, the map's
// operation timeout (WithOpTimeout) bounds the whole scan, fn's time
// included.
func (mp *Map[K, V]) Scan(ctx context.Context, fn func(K, V) bool) error {
	return mp.scan(ctx, allPartitions(mp.s.m.PartitionCount()), fn)
}

// scanPartition is Scan over one partition.
func (mp *Map[K, V]) scanPartition(ctx context.Context, p int, fn func(K, V) bool) error {
	return mp.scan(ctx, []int{p}, fn)
}

func (mp *Map[K, V]) scan(ctx context.Context, parts []int, fn func(K, V) bool) error {
	var decodeErr error
	err := mp.fetch(ctx, parts, func(r wireRecord) bool {
		var e Entry[K, V]
		if e, decodeErr = mp.decodeEntry(r); decodeErr != nil {
			return false
		}
		return fn(e.Key, e.Value)
	})
	return opError("scan", mp.name, errors.Join(decodeErr, err))
}

// Entry is one of a map's entries, as All and LocalEntries yield them.
type Entry[K comparable, V any] struct {
	Key   K
	Value V
}

// All iterates over the map's entries, with Scan's consistency (weakly
// consistent, each partition read whole at one moment, a partition that
// migrates read once from its new owner; not a snapshot of the whole map),
// and the same bound on its duration. The loop body runs on the calling
// goroutine. Errors come with a zero Entry:
//
//	for e, err := range m.All(ctx) {
//		if err != nil {
//			return err
//		}
//		use(e.Key, e.Value)
//	}
//
// An entry that cannot be decoded into K and V is yielded as an error
// wrapping ErrWrongType in its place; the iteration goes on if the loop
// does (continue skips such entries). Any other error (a member shut down,
// the context done, no owner reachable) is yielded last and ends it.
func (mp *Map[K, V]) All(ctx context.Context) iter.Seq2[Entry[K, V], error] {
	return func(yield func(Entry[K, V], error) bool) {
		stopped := false
		err := mp.fetch(ctx, allPartitions(mp.s.m.PartitionCount()), func(r wireRecord) bool {
			e, err := mp.decodeEntry(r)
			if !yield(e, opError("all", mp.name, err)) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil && !stopped {
			yield(Entry[K, V]{}, opError("all", mp.name, err))
		}
	}
}

// decodeEntry decodes a stored entry; on an error, the Entry is zero and
// the error wraps ErrWrongType.
func (mp *Map[K, V]) decodeEntry(r wireRecord) (Entry[K, V], error) {
	k, err := mp.kc.Decode(r.Key)
	if err != nil {
		return Entry[K, V]{}, fmt.Errorf("%w: key: %v", ErrWrongType, err)
	}
	v, err := mp.decodeValue(r.Val)
	if err != nil {
		return Entry[K, V]{}, fmt.Errorf("key %v: %w", k, err)
	}
	return Entry[K, V]{Key: k, Value: v}, nil
}

// fetch reads parts from their owners, a few partitions per request, and
// calls each with every entry, on the calling goroutine, until each returns
// false. Requests run concurrently, but each holds its response until the
// caller's goroutine takes it, so no more than one response per request in
// flight is in memory. However fetch returns (each may panic, or the loop
// body of All call runtime.Goexit), its requests have ended first.
func (mp *Map[K, V]) fetch(ctx context.Context, parts []int, each func(wireRecord) bool) error {
	ctx, cancel := mp.ctx(ctx)
	defer cancel()
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan []wireRecord)
	done := make(chan error, 1)
	go func() {
		done <- mp.s.perOwner(fctx, parts, partitionChunk, func(ctx context.Context, owner string, ps []int) ([]int, error) {
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
			if len(resp.Entries) > 0 {
				select {
				case batches <- resp.Entries:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return resp.NotOwned, nil
		})
	}()
	running := true
	defer func() {
		if running {
			stop()
			<-done
		}
	}()
	for {
		select {
		case batch := <-batches:
			// A request to this member itself does not look at ctx:
			// nothing is delivered once it is done.
			if err := ctx.Err(); err != nil {
				return err
			}
			for _, r := range batch {
				if !each(r) {
					return nil
				}
			}
		case err := <-done:
			// perOwner returns once every request has ended, each after
			// its batch was taken: nothing is left in batches.
			running = false
			return err
		}
	}
}

// ownedPartitions lists the partitions this member owns now, for readers
// co-located with the data (such as a job's source vertex).
func (mp *Map[K, V]) ownedPartitions() []int {
	t := mp.s.servingTable()
	if t == nil {
		return nil
	}
	return t.Owned(mp.s.m.ID())
}

// LocalEntries iterates, without any network call, over the entries of the
// partitions this member owns, one partition at a time, each weakly
// consistent (concurrent writes may or may not be seen); a partition that
// migrates away meanwhile may be read whole, in part or not at all. The
// loop body runs on the calling goroutine. An entry whose key or value
// cannot be decoded into K and V is yielded as an error wrapping
// ErrWrongType, with a zero Entry, in its place; the iteration goes on if
// the loop does.
func (mp *Map[K, V]) LocalEntries() iter.Seq2[Entry[K, V], error] {
	return func(yield func(Entry[K, V], error) bool) {
		t := now()
		for _, p := range mp.ownedPartitions() {
			st, ok := mp.s.parts[p].stores.Load(mp.name)
			if !ok {
				continue
			}
			cont := true
			st.entries.Range(func(kb string, r record) bool {
				if st.expired(kb, t) {
					return true
				}
				e, err := mp.decodeEntry(wireRecord{Key: []byte(kb), Val: []byte(r.val)})
				cont = yield(e, opError("local entries", mp.name, err))
				return cont
			})
			if !cont {
				return
			}
		}
	}
}
