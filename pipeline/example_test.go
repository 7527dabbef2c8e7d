package pipeline_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// Jobs are registered by name in every binary that runs members, from an
// init function; their parameters travel as msgpack, so their fields are
// exported.

// WordCountParams are the parameters of the word-count job.
type WordCountParams struct {
	Lines  []string
	Counts string // the map the counts go to
}

// Reading is a truck's odometer reading at a moment of event time.
type Reading struct {
	Truck string    `msgpack:"t"`
	At    time.Time `msgpack:"a"`
}

// ReadingsParams are the parameters of the readings-per-minute job.
type ReadingsParams struct {
	Readings []Reading
	Windows  string // a list sink for the window results
	Late     string // a list sink for the late readings
}

func init() {
	dag.Register("example.word-count", func(p WordCountParams) (*dag.DAG, error) {
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.Items(p.Lines...), pipeline.NoTimestamps[string]())
		words := pipeline.FlatMap(lines, strings.Fields)
		counts := pipeline.AggregateByKey(pipeline.GroupBy(words, pipeline.Identity[string]), pipeline.Count[string]())
		pipeline.WriteTo(counts, sinks.Map[string, int64](p.Counts))
		return pl.Compile()
	})

	dag.Register("example.readings-per-minute", func(p ReadingsParams) (*dag.DAG, error) {
		pl := pipeline.New()
		// The watermark trails the latest reading by 5 s: a reading older
		// than that when it reaches the window is late.
		ts := pipeline.EventTime(func(r Reading) time.Time { return r.At }, 5*time.Second)
		readings := pipeline.ReadFrom(pl, sources.Items(p.Readings...), ts)
		perMinute := pipeline.Window(pipeline.GroupBy(readings, func(r Reading) string { return r.Truck }), pipeline.Tumbling(time.Minute))
		pipeline.WriteTo(pipeline.AggregateWindow(perMinute, pipeline.Count[Reading]()), sinks.List[pipeline.WindowResult[string, int64]](p.Windows))
		pipeline.WriteTo(pipeline.LateItems(perMinute), sinks.List[Reading](p.Late))
		return pl.Compile()
	})
}

// startMember starts a one-member cluster for an example, logging nothing.
func startMember(ctx context.Context) *weir.Member {
	cfg := weir.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := weir.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	return m
}

// A word count with the pipeline API: the job is registered by name,
// submitted with its parameters, and writes its results into a distributed
// map that any member can read.
func Example() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	job, err := dag.Submit(ctx, m, "example.word-count", WordCountParams{
		Lines:  []string{"to be or not to be", "that is the question", "to be is to do"},
		Counts: "word-counts",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	counts := map[string]int64{}
	for e, err := range grid.GetMap[string, int64](m, "word-counts").All(ctx) {
		if err != nil {
			fmt.Println(err)
			return
		}
		counts[e.Key] = e.Value
	}
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		if counts[w] > 1 {
			fmt.Println(w, counts[w])
		}
	}
	// Output:
	// be 3
	// is 2
	// to 4
}

// Readings per truck and minute of event time, in tumbling windows. The
// reading of truck-2 at 08:00:30 arrives after the watermark passed
// 08:01:35: it is late, and goes to LateItems instead of its window.
func ExampleAggregateWindow() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	at := func(hms string) time.Time {
		t, _ := time.Parse(time.DateTime, "2026-03-02 "+hms)
		return t
	}
	readings := []Reading{
		{"truck-1", at("08:00:10")}, {"truck-2", at("08:00:20")}, {"truck-1", at("08:00:50")},
		{"truck-1", at("08:01:05")}, {"truck-2", at("08:01:40")},
		{"truck-2", at("08:00:30")}, // late
		{"truck-1", at("08:02:10")},
	}
	// One instance per vertex, so that this example's reading order, and
	// with it what is late, is the same on every machine.
	job, err := dag.Submit(ctx, m, "example.readings-per-minute",
		ReadingsParams{Readings: readings, Windows: "per-minute", Late: "late-readings"},
		dag.WithLocalParallelism(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	windows, _ := sinks.ReadList[pipeline.WindowResult[string, int64]](ctx, m, "per-minute")
	slices.SortFunc(windows, func(a, b pipeline.WindowResult[string, int64]) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Key, b.Key))
	})
	for _, w := range windows {
		fmt.Printf("%s-%s %s %d\n", w.Start.UTC().Format("15:04"), w.End.UTC().Format("15:04"), w.Key, w.Value)
	}
	late, _ := sinks.ReadList[Reading](ctx, m, "late-readings")
	for _, r := range late {
		fmt.Println("late:", r.Truck, r.At.UTC().Format(time.TimeOnly))
	}
	// Output:
	// 08:00-08:01 truck-1 2
	// 08:00-08:01 truck-2 1
	// 08:01-08:02 truck-1 1
	// 08:01-08:02 truck-2 1
	// 08:02-08:03 truck-1 1
	// late: truck-2 08:00:30
}
