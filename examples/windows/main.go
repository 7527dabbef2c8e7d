// Command windows aggregates fuel readings in event-time windows on a
// cluster of three members in this process: liters per truck per minute
// (tumbling windows), streamed back to the program through an observable,
// and the fleet's readings over the last two minutes, every minute
// (sliding windows), written into a distributed map.
//
//	go run ./examples/windows
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/internal/localcluster"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// Reading is fuel burnt by a truck, reported at time At (its event time).
type Reading struct {
	Truck  string
	At     time.Time
	Liters float64
}

// Params are the job's parameters.
type Params struct {
	Readings   []Reading
	PerTruck   string // observable receiving liters per truck per minute
	FleetCount string // map receiving the fleet's readings per two minutes
}

// JobName is the name the job is registered and submitted under.
const JobName = "windows.fuel"

func init() {
	dag.Register(JobName, func(p Params) (*dag.DAG, error) {
		pl := pipeline.New()
		// Event time comes from the readings; the watermark trails the
		// latest time seen by 10 s, so a reading up to 10 s out of order
		// still counts in its window.
		readings := pipeline.ReadFrom(pl, sources.Items(p.Readings...),
			pipeline.EventTime(func(r Reading) time.Time { return r.At }, 10*time.Second))

		// Liters per truck per minute: tumbling windows, keyed by truck.
		perTruck := pipeline.AggregateWindow(
			pipeline.Window(pipeline.GroupBy(readings, func(r Reading) string { return r.Truck }), pipeline.Tumbling(time.Minute)),
			pipeline.Sum(func(r Reading) float64 { return r.Liters }))
		pipeline.WriteTo(perTruck, sinks.Observable[pipeline.WindowResult[string, float64]](p.PerTruck))

		// Readings of the whole fleet in the last two minutes, every minute:
		// sliding windows over all items.
		fleet := pipeline.AggregateWindow(pipeline.WindowAll(readings, pipeline.Sliding(2*time.Minute, time.Minute)), pipeline.Count[Reading]())
		byEnd := pipeline.Map(fleet, func(r pipeline.WindowResult[struct{}, int64]) pipeline.KV[string, int64] {
			return pipeline.KV[string, int64]{Key: span(r.Start, r.End), Value: r.Value}
		})
		pipeline.WriteTo(byEnd, sinks.Map[string, int64](p.FleetCount))
		return pl.Compile()
	})
}

// span formats a window as "08:00-08:01".
func span(start, end time.Time) string {
	return start.UTC().Format("15:04") + "-" + end.UTC().Format("15:04")
}

// readings are in event-time order, so none is late.
var readings = func() []Reading {
	at := func(hms string) time.Time {
		t, err := time.Parse(time.DateTime, "2025-06-02 "+hms)
		if err != nil {
			panic(err)
		}
		return t
	}
	return []Reading{
		{"truck-1", at("08:00:10"), 2.0},
		{"truck-2", at("08:00:30"), 4.0},
		{"truck-1", at("08:00:40"), 2.5},
		{"truck-3", at("08:00:50"), 1.0},
		{"truck-2", at("08:01:10"), 4.5},
		{"truck-1", at("08:01:20"), 3.0},
		{"truck-2", at("08:01:50"), 5.0},
		{"truck-1", at("08:02:05"), 1.5},
		{"truck-3", at("08:02:30"), 1.2},
	}
}()

func main() { localcluster.Main("windows", run) }

func run(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	ms, err := localcluster.Start(ctx, 3, logger)
	defer localcluster.Shutdown(ms)
	if err != nil {
		return err
	}
	m := ms[0]
	p := Params{Readings: readings, PerTruck: "liters-per-minute", FleetCount: "fleet-readings"}

	// Observe before submitting: the observer follows the next job that
	// writes to the observable.
	obs, err := sinks.Observe[pipeline.WindowResult[string, float64]](ctx, m, p.PerTruck)
	if err != nil {
		return err
	}
	if _, err := dag.Submit(ctx, m, JobName, p); err != nil {
		return err
	}
	// Results arrive as the watermark closes windows; the loop ends when the
	// job has completed and every result was read.
	var perTruck []string
	for r, err := range obs.All(ctx) {
		if err != nil {
			return err
		}
		perTruck = append(perTruck, fmt.Sprintf("%s %s %4.1f L", span(r.Start, r.End), r.Key, r.Value))
	}
	slices.Sort(perTruck) // each member's sink delivers in its own order
	fmt.Fprintf(out, "liters per truck per minute (tumbling windows):\n  %s\n", strings.Join(perTruck, "\n  "))

	var fleet []string
	err = grid.GetMap[string, int64](m, p.FleetCount).Scan(ctx, func(window string, n int64) bool {
		fleet = append(fleet, fmt.Sprintf("%s %d readings", window, n))
		return true
	})
	if err != nil {
		return err
	}
	slices.Sort(fleet)
	fmt.Fprintf(out, "fleet readings, 2-minute windows every minute (sliding windows):\n  %s\n", strings.Join(fleet, "\n  "))
	return nil
}
