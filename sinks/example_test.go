package sinks_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// Trip is what the example jobs produce: a truck's trip, in km.
type Trip struct {
	Truck string  `msgpack:"t"`
	Km    float64 `msgpack:"k"`
}

func (t Trip) String() string { return fmt.Sprintf("%s %.0f km", t.Truck, t.Km) }

var exampleTrips = []Trip{{"truck-1", 120}, {"truck-2", 80}, {"truck-1", 40}, {"truck-3", 300}, {"truck-2", 15}}

// TripParams names where the example jobs write.
type TripParams struct {
	Sink string // a map, list, observable or channel name
}

func init() {
	dag.Register("example.km-per-truck", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		totals := pipeline.RollingAggregate(pipeline.GroupBy(trips, func(t Trip) string { return t.Truck }), pipeline.Sum(func(t Trip) float64 { return t.Km }))
		pipeline.WriteTo(totals, sinks.Map[string, float64](p.Sink))
		return pl.Compile()
	})
	dag.Register("example.km-per-truck-live", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		totals := pipeline.RollingAggregate(pipeline.GroupBy(trips, func(t Trip) string { return t.Truck }), pipeline.Sum(func(t Trip) float64 { return t.Km }))
		pipeline.WriteTo(totals, sinks.MapImmediate[string, float64](p.Sink))
		return pl.Compile()
	})
	dag.Register("example.long-trips-list", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		pipeline.WriteTo(pipeline.Filter(trips, func(t Trip) bool { return t.Km >= 50 }), sinks.List[Trip](p.Sink))
		return pl.Compile()
	})
	dag.Register("example.trips-observable", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		pipeline.WriteTo(trips, sinks.Observable[Trip](p.Sink))
		return pl.Compile()
	})
	dag.Register("example.trips-channel", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		pipeline.WriteTo(trips, sinks.Channel[Trip](p.Sink))
		return pl.Compile()
	})
}

// startMember starts a one-member cluster for an example, logging nothing.
func startMember(ctx context.Context) *member.Member {
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := weir.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	return m
}

// Running totals per truck, kept in a distributed map: every update is a
// put of the key's latest total. The job is exactly-once, so the map holds
// the totals of the input its last complete snapshot covers (here, once the
// job completes, of all of it).
func ExampleMap() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	job, _ := dag.Submit(ctx, m, "example.km-per-truck", TripParams{Sink: "km"}, dag.WithGuarantee(dag.ExactlyOnce))
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	km, _ := grid.GetMap[string, float64](m, "km").GetAll(ctx, []string{"truck-1", "truck-2", "truck-3"})
	for _, truck := range slices.Sorted(maps.Keys(km)) {
		fmt.Println(truck, km[truck])
	}
	// Output:
	// truck-1 160
	// truck-2 95
	// truck-3 300
}

// A live view in an exactly-once job: MapImmediate writes every total as
// it is computed, not once per snapshot as Map does in such a job.
func ExampleMapImmediate() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	job, _ := dag.Submit(ctx, m, "example.km-per-truck-live", TripParams{Sink: "km-live"}, dag.WithGuarantee(dag.ExactlyOnce))
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	km, _ := grid.GetMap[string, float64](m, "km-live").GetAll(ctx, []string{"truck-1", "truck-2", "truck-3"})
	for _, truck := range slices.Sorted(maps.Keys(km)) {
		fmt.Println(truck, km[truck])
	}
	// Output:
	// truck-1 160
	// truck-2 95
	// truck-3 300
}

// A test collects a job's output with List and reads it back with
// ReadList.
func ExampleList() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	job, _ := dag.Submit(ctx, m, "example.long-trips-list", TripParams{Sink: "long-trips"})
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	trips, _ := sinks.ReadList[Trip](ctx, m, "long-trips")
	slices.SortFunc(trips, func(a, b Trip) int { return strings.Compare(a.String(), b.String()) })
	fmt.Println(trips)
	_ = sinks.ClearList(ctx, m, "long-trips")
	// Output:
	// [truck-1 120 km truck-2 80 km truck-3 300 km]
}

// The embedding program observes the job's results as they come; the loop
// ends when the job has completed and everything was read.
func ExampleObservable() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	obs, err := sinks.Observe[Trip](ctx, m, "trips") // before submitting
	if err != nil {
		fmt.Println(err)
		return
	}
	// One instance per vertex: the trips arrive in the source's order.
	if _, err := dag.Submit(ctx, m, "example.trips-observable", TripParams{Sink: "trips"}, dag.WithLocalParallelism(1)); err != nil {
		fmt.Println(err)
		return
	}
	for trip, err := range obs.All(ctx) {
		if err != nil {
			fmt.Println("the job failed:", err)
			return
		}
		fmt.Println(trip)
	}
	// Output:
	// truck-1 120 km
	// truck-2 80 km
	// truck-1 40 km
	// truck-3 300 km
	// truck-2 15 km
}

// In a program that runs its members itself, a job delivers into a Go
// channel; a full channel holds the job back.
func ExampleChannel() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	trips := make(chan Trip, 10)
	unregister, err := sinks.RegisterChannel("trips", trips)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unregister()
	job, _ := dag.Submit(ctx, m, "example.trips-channel", TripParams{Sink: "trips"})
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	var got []string
	for len(trips) > 0 { // the sink never closes the channel
		got = append(got, (<-trips).String())
	}
	slices.Sort(got)
	fmt.Println(strings.Join(got, ", "))
	// Output:
	// truck-1 120 km, truck-1 40 km, truck-2 15 km, truck-2 80 km, truck-3 300 km
}
