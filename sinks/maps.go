package sinks

import (
	"fmt"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// Map writes key-value pairs into a distributed map with PutAll. Items are
// routed by key to the member owning the key's partition, so writes are
// local and a key's values are written in the order they were produced: the
// map holds the last one. A put is idempotent: after a restart from a
// snapshot the items replayed write the same values again, so the map ends
// exactly as if nothing had failed (for a job whose values for a key are
// deterministic, such as running totals).
//
//	km := pipeline.RollingAggregate(pipeline.GroupBy(trips, Trip.TruckID), pipeline.Sum(Trip.Kilometres))
//	pipeline.WriteTo(km, sinks.Map[string, float64]("km-per-truck"))
//
// Map options (grid.WithTTL, ...) apply to the map's handle on every
// member, as for grid.GetMap.
func Map[K comparable, V any](mapName string, opts ...grid.MapOption) pipeline.Sink[pipeline.KV[K, V]] {
	s := pipeline.NewSink("map-"+mapName, func(ctx *dag.Context) (pipeline.SinkWriter[pipeline.KV[K, V]], error) {
		return &mapWriter[K, V]{ctx: ctx, m: grid.GetMap[K, V](ctx, mapName, opts...)}, nil
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
