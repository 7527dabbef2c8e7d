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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
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
		pl := dag.NewPipeline()
		// Event time comes from the readings; the watermark trails the
		// latest time seen by 10 s, so a reading up to 10 s out of order
		// still counts in its window.
		readings := dag.ReadFrom(pl, sources.Items(p.Readings...),
			dag.EventTime(func(r Reading) time.Time { return r.At }, 10*time.Second))

		// Liters per truck per minute: tumbling windows, keyed by truck.
		perTruck := dag.AggregateWindow(
			dag.Window(dag.GroupBy(readings, func(r Reading) string { return r.Truck }), dag.Tumbling(time.Minute)),
			dag.Sum(func(r Reading) float64 { return r.Liters }))
		dag.WriteTo(perTruck, sinks.Observable[dag.WindowResult[string, float64]](p.PerTruck))

		// Readings of the whole fleet in the last two minutes, every minute:
		// sliding windows over all items.
		fleet := dag.AggregateWindow(dag.WindowAll(readings, dag.Sliding(2*time.Minute, time.Minute)), dag.Count[Reading]())
		byEnd := dag.Map(fleet, func(r dag.WindowResult[struct{}, int64]) dag.KV[string, int64] {
			return dag.KV[string, int64]{Key: span(r.Start, r.End), Value: r.Value}
		})
		dag.WriteTo(byEnd, sinks.Map[string, int64](p.FleetCount))
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

func main() {
	verbose := flag.Bool("verbose", false, "log what the members do, to stderr")
	flag.Parse()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "windows:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	ms, err := startCluster(ctx, 3, logger)
	defer shutdown(ms)
	if err != nil {
		return err
	}
	m := ms[0]
	p := Params{Readings: readings, PerTruck: "liters-per-minute", FleetCount: "fleet-readings"}

	// Observe before submitting: the observer follows the next job that
	// writes to the observable.
	obs, err := sinks.Observe[dag.WindowResult[string, float64]](ctx, m, p.PerTruck)
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

// startCluster starts n members on loopback in this process, each joining
// the first, and waits until the partitions are spread over all of them.
func startCluster(ctx context.Context, n int, logger *slog.Logger) ([]*member.Member, error) {
	cfg := member.LocalConfig() // loopback, ephemeral ports, fast failure detection
	cfg.Logger = logger
	var ms []*member.Member
	for i := range n {
		c := cfg
		c.Name = fmt.Sprintf("m%d", i+1)
		if i > 0 {
			c.Join = []string{ms[0].Addr()}
		}
		m, err := member.Start(ctx, c)
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
	}
	// Partitions migrate to members as they join; wait for the last table.
	t, err := ms[0].WaitPartitions(ctx, func(t *partition.Table) bool {
		if t == nil || len(t.Members()) != n {
			return false
		}
		for _, id := range t.Members() {
			if len(t.Owned(id)) < t.Count()/n {
				return false
			}
		}
		return true
	})
	if err != nil {
		return ms, err
	}
	for _, m := range ms[1:] {
		if _, err := m.WaitVersion(ctx, t.Version()); err != nil {
			return ms, err
		}
	}
	return ms, nil
}

// shutdown stops the members gracefully, the last started first.
func shutdown(ms []*member.Member) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range slices.Backward(ms) {
		_ = m.Shutdown(ctx)
	}
}
