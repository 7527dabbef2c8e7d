package sinks

import (
	"errors"
	"fmt"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// Map writes key-value pairs into a distributed map. Items are routed by
// key to the member owning the key's partition, so writes are local and a
// key's values are written in the order they were produced: the map holds
// the last one.
//
//	km := pipeline.RollingAggregate(pipeline.GroupBy(trips, Trip.TruckID), pipeline.Sum(Trip.Kilometres))
//	pipeline.WriteTo(km, sinks.Map[string, float64]("km-per-truck"))
//
// In a job with dag.ExactlyOnce the map commits with the job's snapshots
// (two-phase commit): each instance holds the writes since the last
// snapshot, one per key (the last), saves them in the snapshot on its
// barrier, and writes them with PutAll once the snapshot completes in the
// whole cluster. So the map always holds the output of a complete
// snapshot, a point in the input: after a member is lost, the job
// restores its last snapshot and the map holds exactly that snapshot's
// output, also for the keys the failed execution wrote after it and the
// restored one has not written again. Results appear once per snapshot
// interval (dag.WithSnapshotInterval), and all of them when the job
// completes. MapImmediate writes at once instead.
//
// Without a guarantee, or with dag.AtLeastOnce, Map writes each batch
// with PutAll as it arrives, as MapImmediate does.
//
// Map options (grid.WithTTL, ...) apply to the map's handle on every
// member, as for grid.GetMap.
func Map[K comparable, V any](mapName string, opts ...grid.MapOption) pipeline.Sink[pipeline.KV[K, V]] {
	return mapSink[K, V](mapName, true, opts)
}

// MapImmediate writes key-value pairs into a distributed map as they
// arrive, whatever the job's guarantee: Jet's map sink. Use it where
// latency matters more than a consistent map, in an exactly-once job (a
// live dashboard): a put is idempotent, so after a restart the items
// replayed write the same values again, and a key's value converges once
// the restored job has written it again. Until then a key the failed
// execution wrote after the snapshot the job restored keeps that later
// value (a key written once, late, keeps it for good), so the map is not
// the output of one point in the input, as Map's is.
func MapImmediate[K comparable, V any](mapName string, opts ...grid.MapOption) pipeline.Sink[pipeline.KV[K, V]] {
	return mapSink[K, V](mapName, false, opts)
}

func mapSink[K comparable, V any](mapName string, commit bool, opts []grid.MapOption) pipeline.Sink[pipeline.KV[K, V]] {
	s := pipeline.NewSink("map-"+mapName, func(ctx *dag.Context) (pipeline.SinkWriter[pipeline.KV[K, V]], error) {
		if mapName == "" {
			return nil, errors.New("map sink: no map name")
		}
		m := grid.GetMap[K, V](ctx, mapName, opts...)
		if !commit || ctx.Guarantee != dag.ExactlyOnce {
			return &mapWriter[K, V]{ctx: ctx, m: m}, nil
		}
		c := newMapCommit(ctx, m)
		return &txnWriter[pipeline.KV[K, V], K, V]{mapCommit: c, write: func(items []pipeline.KV[K, V]) error {
			for _, kv := range items {
				c.put(kv.Key, kv.Value)
			}
			return nil
		}}, nil
	})
	return pipeline.PartitionSink(s, func(kv pipeline.KV[K, V]) K { return kv.Key })
}

type mapWriter[K comparable, V any] struct {
	ctx   *dag.Context
	m     *grid.Map[K, V]
	batch map[K]V
}

func (w *mapWriter[K, V]) Write(items []pipeline.KV[K, V]) error {
	if w.batch == nil {
		w.batch = make(map[K]V, len(items))
	}
	// Later items of a key win within a batch, as they would one by one.
	for _, kv := range items {
		w.batch[kv.Key] = kv.Value
	}
	err := w.m.PutAll(w.ctx.Context(), w.batch)
	clear(w.batch)
	if err != nil {
		return fmt.Errorf("map sink %s: %w", w.m.Name(), err)
	}
	return nil
}

func (w *mapWriter[K, V]) Close() error { return nil }
