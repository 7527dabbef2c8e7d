package sinks

import (
	"fmt"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
)

// Map writes key-value pairs into a distributed map with PutAll. Items are
// routed by key to the member owning the key's partition, so writes are
// local and a key's values are written in the order they were produced: the
// map holds the last one. A put is idempotent: after a restart from a
// snapshot the items replayed write the same values again, so the map ends
// exactly as if nothing had failed (for a job whose values for a key are
// deterministic, such as running totals).
//
//	km := dag.RollingAggregate(dag.GroupBy(trips, Trip.TruckID), dag.Sum(Trip.Kilometres))
//	dag.WriteTo(km, sinks.Map[string, float64]("km-per-truck"))
//
// Map options (grid.WithTTL, ...) apply to the map's handle on every
// member, as for grid.GetMap.
func Map[K comparable, V any](mapName string, opts ...grid.MapOption) dag.Sink[dag.KV[K, V]] {
	s := dag.NewSink("map-"+mapName, func(ctx *dag.Context) (dag.SinkWriter[dag.KV[K, V]], error) {
		return &mapWriter[K, V]{ctx: ctx, m: grid.GetMap[K, V](ctx, mapName, opts...)}, nil
	})
	return dag.PartitionSink(s, func(kv dag.KV[K, V]) K { return kv.Key })
}

type mapWriter[K comparable, V any] struct {
	ctx   *dag.Context
	m     *grid.Map[K, V]
	batch map[K]V
}

func (w *mapWriter[K, V]) Write(items []dag.KV[K, V]) error {
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
