package sinks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// mergeConcurrency bounds the keys a merging sink instance updates at once.
const mergeConcurrency = 16

// maxSwapAttempts bounds the compare-and-swap retries of one key.
const maxSwapAttempts = 100

// MapWithProcessor updates a distributed map with a registered entry
// processor (grid.RegisterProcessor), run on the key's owner with
// toArg(item) as its argument, atomically with every other write to the key:
// Jet's mapWithEntryProcessor. Items are routed by key, like Map's, so the
// processor runs on the member handling the item, and the items of a key are
// applied in the order they arrived; different keys are applied
// concurrently (toKey and toArg must be safe to call so).
//
//	var addLoad = grid.RegisterProcessor("fleet.add-load",
//		func(_ string, total int64, _ bool, kg int64) (int64, grid.Action, int64, error) {
//			return total + kg, grid.Set, total + kg, nil
//		})
//
//	pipeline.WriteTo(loads, sinks.MapWithProcessor("load-per-truck", addLoad,
//		func(l Load) string { return l.Truck }, func(l Load) int64 { return l.Kg }))
//
// At least once, not exactly once, whatever the job's guarantee: a merge is
// not idempotent, and after a restart from a snapshot the items processed
// since it are merged again (grid.Execute never applies one call twice, but
// the replayed items are new calls). The processor runs on the key's owner,
// so the sink cannot hold its result back until a snapshot commits, as
// MapWithMerging does. The processor may dedupe itself if the items carry
// an id and the value remembers the last one applied; or use
// MapWithMerging or MapWithUpdating, or keep the merged state in the job
// (pipeline.RollingAggregate, pipeline.MapStateful) and write it with Map:
// in an exactly-once job those are exactly once.
func MapWithProcessor[T any, K comparable, V, A, R any](mapName string, proc grid.Processor[K, V, A, R], toKey func(T) K, toArg func(T) A, opts ...grid.MapOption) pipeline.Sink[T] {
	s := pipeline.NewSink("map-process-"+mapName, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		var errs []error
		if mapName == "" {
			errs = append(errs, errors.New("no map name"))
		}
		if proc.Name() == "" {
			errs = append(errs, errors.New("no entry processor (use the one grid.RegisterProcessor returns)"))
		}
		if toKey == nil || toArg == nil {
			errs = append(errs, errors.New("toKey and toArg must not be nil"))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("map sink %q: %w", mapName, err)
		}
		return &processWriter[T, K, V, A, R]{ctx: ctx, m: grid.GetMap[K, V](ctx, mapName, opts...), proc: proc, toKey: toKey, toArg: toArg}, nil
	})
	return pipeline.PartitionSink(s, orZeroKey(toKey))
}

type processWriter[T any, K comparable, V, A, R any] struct {
	ctx    *dag.Context
	m      *grid.Map[K, V]
	proc   grid.Processor[K, V, A, R]
	toKey  func(T) K
	toArg  func(T) A
	groups keyGroups[T, K]
}

func (w *processWriter[T, K, V, A, R]) Write(items []T) error {
	w.groups.group(items, w.toKey)
	ctx := w.ctx.Context()
	return forEachKey(ctx, len(w.groups.keys), func(i int) error {
		k := w.groups.keys[i]
		for _, it := range w.groups.items[i] {
			if _, err := grid.Execute(ctx, w.m, k, w.proc, w.toArg(it)); err != nil {
				return fmt.Errorf("map sink %s: %w", w.m.Name(), err)
			}
		}
		return nil
	})
}

func (w *processWriter[T, K, V, A, R]) Close() error { return nil }

// MapWithMerging merges each item's value into a distributed map: the
// key's new value is merge(old, toValue(item)), or toValue(item) if the key
// had none. Jet's mapWithMerging, with no processor to register: the sink
// reads the keys of a batch, merges, and writes each back with
// compare-and-swap, merging again if another writer got there first. Routed
// by key like Map, so reads and writes are local.
//
// In a job with dag.ExactlyOnce it commits with the job's snapshots, as
// Map does: each instance merges the items into the key's value as its
// writes so far leave it (read from the map the first time, then held),
// holds the result, one per key, and writes it when a snapshot covering it
// completes; a restore writes the values the restored snapshot holds, so
// every item is merged exactly once, and a commit done twice writes the
// same values again. The job must then be the keys' only writer: a value
// another writer puts between the sink's read and its commit is
// overwritten. Otherwise (no guarantee, or dag.AtLeastOnce) each batch is
// merged into the map at once, with compare-and-swap, and a restart from
// a snapshot merges the items replayed again: at least once.
//
//	pipeline.WriteTo(trips, sinks.MapWithMerging("km-per-truck",
//		func(t Trip) string { return t.Truck },
//		func(t Trip) float64 { return t.Km },
//		func(old, new float64) float64 { return old + new }))
//
// Compare-and-swap compares encoded values: a value type holding a map with
// keys other than strings encodes in random order and never compares equal;
// the sink then fails after 100 attempts. Use MapWithProcessor for those.
func MapWithMerging[T any, K comparable, V any](mapName string, toKey func(T) K, toValue func(T) V, merge func(old, new V) V, opts ...grid.MapOption) pipeline.Sink[T] {
	var update func(V, bool, T) (V, bool)
	if toValue != nil && merge != nil {
		update = func(old V, found bool, item T) (V, bool) {
			if !found {
				return toValue(item), true
			}
			return merge(old, toValue(item)), true
		}
	}
	return MapWithUpdating(mapName, toKey, update, opts...)
}

// MapWithUpdating updates a distributed map with each item: update
// receives the key's value (found false if it has none) and the item, and
// returns the new value, or false to remove the key. It works as
// MapWithMerging does, with its guarantees and limits; in an exactly-once
// job a removal is held and committed like a value (with DeleteAll).
//
//	pipeline.WriteTo(events, sinks.MapWithUpdating("open-alerts",
//		func(e AlertEvent) string { return e.ID },
//		func(a Alert, found bool, e AlertEvent) (Alert, bool) {
//			if e.Resolved {
//				return a, false // removes the alert
//			}
//			return a.With(e), true
//		}))
func MapWithUpdating[T any, K comparable, V any](mapName string, toKey func(T) K, update func(old V, found bool, item T) (V, bool), opts ...grid.MapOption) pipeline.Sink[T] {
	s := pipeline.NewSink("map-update-"+mapName, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		var errs []error
		if mapName == "" {
			errs = append(errs, errors.New("no map name"))
		}
		if toKey == nil || update == nil {
			errs = append(errs, errors.New("the key, value and merge functions must not be nil"))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("map sink %q: %w", mapName, err)
		}
		w := &updateWriter[T, K, V]{ctx: ctx, m: grid.GetMap[K, V](ctx, mapName, opts...), toKey: toKey, update: update}
		if ctx.Guarantee != dag.ExactlyOnce {
			return w, nil
		}
		w.held = newMapCommit(ctx, w.m)
		return &txnWriter[T, K, V]{mapCommit: w.held, write: w.writeHeld}, nil
	})
	return pipeline.PartitionSink(s, orZeroKey(toKey))
}

type updateWriter[T any, K comparable, V any] struct {
	ctx    *dag.Context
	m      *grid.Map[K, V]
	toKey  func(T) K
	update func(V, bool, T) (V, bool)
	groups keyGroups[T, K]
	held   *mapCommit[K, V] // exactly-once: the writes not committed yet
	absent []K              // writeHeld's keys with nothing held
}

func (w *updateWriter[T, K, V]) Write(items []T) error {
	w.groups.group(items, w.toKey)
	ctx := w.ctx.Context()
	current, err := w.m.GetAll(ctx, w.groups.keys)
	if err != nil {
		return fmt.Errorf("map sink %s: %w", w.m.Name(), err)
	}
	return forEachKey(ctx, len(w.groups.keys), func(i int) error {
		k := w.groups.keys[i]
		v, found := current[k]
		if err := w.apply(ctx, k, v, found, w.groups.items[i]); err != nil {
			return fmt.Errorf("map sink %s: %w", w.m.Name(), err)
		}
		return nil
	})
}

// writeHeld folds each key's items into its value as the writes held so
// far leave it (or as the map holds it, for a key with none: the map holds
// what this instance last committed, as the key's only writer), and holds
// the result, to be committed with the next snapshot.
func (w *updateWriter[T, K, V]) writeHeld(items []T) error {
	w.groups.group(items, w.toKey)
	w.absent = w.absent[:0]
	for _, k := range w.groups.keys {
		if _, ok := w.held.held(k); !ok {
			w.absent = append(w.absent, k)
		}
	}
	var stored map[K]V
	if len(w.absent) > 0 {
		var err error
		if stored, err = w.m.GetAll(w.ctx.Context(), w.absent); err != nil {
			return fmt.Errorf("map sink %s: %w", w.m.Name(), err)
		}
	}
	for i, k := range w.groups.keys {
		h, held := w.held.held(k)
		v, found := h.Value, held && !h.Deleted
		if !held {
			v, found = stored[k]
		}
		was := found
		for _, it := range w.groups.items[i] {
			v, found = w.update(v, found, it)
		}
		switch {
		case found:
			w.held.put(k, v)
		case was:
			w.held.remove(k)
		}
	}
	return nil
}

// apply folds a key's items into its value and swaps it in, starting over
// from the stored value when another writer changed it.
func (w *updateWriter[T, K, V]) apply(ctx context.Context, k K, cur V, found bool, items []T) error {
	for attempt := 1; ; attempt++ {
		next, keep := cur, found
		for _, it := range items {
			next, keep = w.update(next, keep, it)
		}
		var done bool
		var err error
		switch {
		case found && keep:
			done, err = w.m.CompareAndSwap(ctx, k, cur, next)
		case found:
			done, err = w.m.CompareAndDelete(ctx, k, cur)
		case keep:
			var existing V
			if done, existing, err = w.m.PutIfAbsent(ctx, k, next); err == nil && !done {
				cur, found = existing, true
				continue
			}
		default:
			return nil // absent, and stays so
		}
		if err != nil || done {
			return err
		}
		if attempt >= maxSwapAttempts {
			return fmt.Errorf("key %v changed under %d compare-and-swaps in a row: a value holding a map with non-string keys never compares equal (use MapWithProcessor)", k, attempt)
		}
		if cur, found, err = w.m.Get(ctx, k); err != nil {
			return err
		}
	}
}

func (w *updateWriter[T, K, V]) Close() error { return nil }

// orZeroKey stands in for a nil key function, so that the sink reports the
// problem when it opens rather than the routing panicking.
func orZeroKey[T any, K comparable](key func(T) K) func(T) K {
	if key != nil {
		return key
	}
	return func(T) K { var zero K; return zero }
}

// keyGroups groups a batch's items by key, keeping the order of the keys'
// first appearance and of the items within a key. Its slices are reused
// from batch to batch.
type keyGroups[T any, K comparable] struct {
	index map[K]int
	keys  []K
	items [][]T
}

func (g *keyGroups[T, K]) group(items []T, key func(T) K) {
	if g.index == nil {
		g.index = map[K]int{}
	}
	clear(g.index)
	for i := range g.items {
		clear(g.items[i])
		g.items[i] = g.items[i][:0]
	}
	clear(g.keys)
	g.keys, g.items = g.keys[:0], g.items[:0]
	for _, it := range items {
		k := key(it)
		i, ok := g.index[k]
		if !ok {
			i = len(g.keys)
			g.index[k] = i
			g.keys = append(g.keys, k)
			if i < cap(g.items) {
				g.items = g.items[:i+1]
			} else {
				g.items = append(g.items, nil)
			}
		}
		g.items[i] = append(g.items[i], it)
	}
}

// forEachKey calls fn for the keys 0..n-1, up to mergeConcurrency at once,
// and returns once all calls returned: its goroutines live only for the
// call (which is why they are not started through the member). After a
// failure, or once ctx ends, no new call starts.
func forEachKey(ctx context.Context, n int, fn func(i int) error) error {
	workers := min(n, mergeConcurrency)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}
