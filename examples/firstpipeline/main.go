// Command firstpipeline runs a first stream-processing job on a cluster of
// three members in this process: it reads fixed trips, computes each
// trip's fuel consumption, keeps the thirsty ones and writes them into a
// distributed map, which the program then reads.
//
//	go run ./examples/firstpipeline
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/internal/localcluster"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// Trip is one trip of a truck. Items cross the network between members as
// msgpack, so their fields are exported.
type Trip struct {
	ID     string
	Truck  string
	Km     float64
	Liters float64
}

// Params are the job's parameters: every member builds the job from them.
type Params struct {
	Trips     []Trip
	MaxPer100 float64 // liters per 100 km above which a trip is reported
	Output    string  // the map to write the thirsty trips into
}

// JobName is the name the job is registered and submitted under.
const JobName = "firstpipeline.thirsty-trips"

// Go cannot ship a closure to another process, so a job is code registered
// by name in every binary that runs members; submitting it sends the name
// and the parameters, and each member builds the same DAG.
func init() {
	dag.Register(JobName, func(p Params) (*dag.DAG, error) {
		pl := pipeline.New()
		trips := pipeline.ReadFrom(pl, sources.Items(p.Trips...), pipeline.NoTimestamps[Trip]())
		per100 := pipeline.Map(trips, func(t Trip) pipeline.KV[string, float64] {
			return pipeline.KV[string, float64]{Key: t.ID + " " + t.Truck, Value: 100 * t.Liters / t.Km}
		})
		thirsty := pipeline.Filter(per100, func(kv pipeline.KV[string, float64]) bool { return kv.Value > p.MaxPer100 })
		pipeline.WriteTo(thirsty, sinks.Map[string, float64](p.Output))
		return pl.Compile()
	})
}

var trips = []Trip{
	{"t1", "truck-1", 420, 126}, // 30.0 L/100km
	{"t2", "truck-2", 310, 112}, // 36.1
	{"t3", "truck-1", 95, 31},   // 32.6
	{"t4", "truck-3", 520, 140}, // 26.9
	{"t5", "truck-2", 180, 70},  // 38.9
	{"t6", "truck-3", 60, 21},   // 35.0
}

func main() { localcluster.Main("firstpipeline", run) }

func run(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	ms, err := localcluster.Start(ctx, 3, logger)
	defer localcluster.Shutdown(ms)
	if err != nil {
		return err
	}
	m := ms[0] // any member can submit a job and read its results

	job, err := dag.Submit(ctx, m, JobName, Params{Trips: trips, MaxPer100: 32, Output: "thirsty-trips"})
	if err != nil {
		return err
	}
	if err := job.Wait(ctx); err != nil { // the source is bounded: the job completes
		return err
	}

	var lines []string
	err = grid.GetMap[string, float64](m, "thirsty-trips").Scan(ctx, func(trip string, per100 float64) bool {
		lines = append(lines, fmt.Sprintf("%s: %.1f L/100km", trip, per100))
		return true
	})
	if err != nil {
		return err
	}
	slices.Sort(lines) // a map has no order
	fmt.Fprintf(out, "job %s completed; trips above 32 L/100km:\n", JobName)
	for _, l := range lines {
		fmt.Fprintln(out, " ", l)
	}
	return nil
}
