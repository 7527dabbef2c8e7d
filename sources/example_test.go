package sources_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// Jobs are code registered by name in every binary running members, from
// an init function: a job cannot travel as a closure.
func init() {
	// Counts the words of fixed lines.
	dag.Register("example.items", func(lines []string) (*dag.DAG, error) {
		pl := pipeline.New()
		text := pipeline.ReadFrom(pl, sources.Items(lines...), pipeline.NoTimestamps[string]())
		words := pipeline.FlatMap(text, strings.Fields)
		counts := pipeline.AggregateByKey(pipeline.GroupBy(words, pipeline.Identity[string]), pipeline.Count[string]())
		pipeline.WriteTo(counts, sinks.Map[string, int64]("example-word-counts"))
		return pl.Compile()
	})
	// Sums the kilograms of JSON readings per vehicle.
	dag.Register("example.jsonlines", func(dir string) (*dag.DAG, error) {
		pl := pipeline.New()
		readings := pipeline.ReadFrom(pl, sources.JSONLines[exampleReading](dir, "*.jsonl"), pipeline.NoTimestamps[exampleReading]())
		kgs := pipeline.AggregateByKey(pipeline.GroupBy(readings, func(r exampleReading) string { return r.Vehicle }),
			pipeline.Sum(func(r exampleReading) int64 { return r.Kg }))
		pipeline.WriteTo(kgs, sinks.Map[string, int64]("example-kg"))
		return pl.Compile()
	})
	// Copies the heavy vehicles of one map into another.
	dag.Register("example.map", func(struct{}) (*dag.DAG, error) {
		pl := pipeline.New()
		fleet := pipeline.ReadFrom(pl, sources.Map[string, int]("example-fleet"), pipeline.NoTimestamps[pipeline.KV[string, int]]())
		heavy := pipeline.Filter(fleet, func(e pipeline.KV[string, int]) bool { return e.Value > 12000 })
		pipeline.WriteTo(heavy, sinks.Map[string, int]("example-heavy"))
		return pl.Compile()
	})
}

type exampleReading struct {
	Vehicle string `json:"vehicle"`
	Kg      int64  `json:"kg"`
}

// startExampleMember starts a one-member cluster on loopback.
func startExampleMember(ctx context.Context) *member.Member {
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := weir.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	return m
}

// printMap prints a map's entries sorted by key.
func printMap[V any](ctx context.Context, m *member.Member, name string) {
	var lines []string
	_ = grid.GetMap[string, V](m, name).Scan(ctx, func(k string, v V) bool {
		lines = append(lines, fmt.Sprintf("%s: %v", k, v))
		return true
	})
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
}

// A word count over fixed lines.
func ExampleItems() {
	ctx := context.Background()
	m := startExampleMember(ctx)
	defer m.Shutdown(ctx)

	job, err := dag.Submit(ctx, m, "example.items", []string{"to be or", "not to be"})
	if err != nil {
		panic(err)
	}
	if err := job.Wait(ctx); err != nil {
		panic(err)
	}
	printMap[int64](ctx, m, "example-word-counts")
	// Output:
	// be: 2
	// not: 1
	// or: 1
	// to: 2
}

// JSON readings from the files of a directory; a line that is not JSON is
// skipped, and counted in the processor counter "parse-errors".
func ExampleJSONLines() {
	ctx := context.Background()
	m := startExampleMember(ctx)
	defer m.Shutdown(ctx)

	dir, _ := os.MkdirTemp("", "readings")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "monday.jsonl"), []byte(
		`{"vehicle":"truck-1","kg":1200}`+"\n"+
			`{"vehicle":"van-2","kg":300}`+"\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "tuesday.jsonl"), []byte(
		`{"vehicle":"truck-1","kg":800}`+"\n"+
			"not json\n"+
			`{"vehicle":"van-2","kg":450}`+"\n"), 0o644)

	job, err := dag.Submit(ctx, m, "example.jsonlines", dir)
	if err != nil {
		panic(err)
	}
	if err := job.Wait(ctx); err != nil {
		panic(err)
	}
	printMap[int64](ctx, m, "example-kg")
	// Output:
	// truck-1: 2000
	// van-2: 750
}

// The entries of a map, each read on the member that owns it.
func ExampleMap() {
	ctx := context.Background()
	m := startExampleMember(ctx)
	defer m.Shutdown(ctx)

	fleet := grid.GetMap[string, int](m, "example-fleet")
	_ = fleet.PutAll(ctx, map[string]int{"truck-1": 18000, "truck-2": 26000, "van-1": 3500})

	job, err := dag.Submit(ctx, m, "example.map", struct{}{})
	if err != nil {
		panic(err)
	}
	if err := job.Wait(ctx); err != nil {
		panic(err)
	}
	printMap[int](ctx, m, "example-heavy")
	// Output:
	// truck-1: 18000
	// truck-2: 26000
}
