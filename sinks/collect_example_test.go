package sinks_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

func init() {
	dag.Register("example.trips-collect", func(p TripParams) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(exampleTrips...), pipeline.NoTimestamps[Trip]())
		pipeline.WriteTo(trips, sinks.Collect[Trip](p.Sink))
		return pl.Compile()
	})
}

// The process that runs the members and submits a job gets its results back
// in a typed collector, exactly once with dag.ExactlyOnce.
func ExampleCollect() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	collected, err := sinks.NewCollector[Trip]("trips")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer collected.Close()
	job, _ := dag.Submit(ctx, m, "example.trips-collect", TripParams{Sink: collected.Name()}, dag.WithGuarantee(dag.ExactlyOnce))
	trips, err := collected.Wait(ctx, job)
	if err != nil {
		fmt.Println(err)
		return
	}
	var got []string
	for _, t := range trips {
		got = append(got, t.String())
	}
	slices.Sort(got)
	fmt.Println(strings.Join(got, ", "))
	// Output:
	// truck-1 120 km, truck-1 40 km, truck-2 15 km, truck-2 80 km, truck-3 300 km
}
