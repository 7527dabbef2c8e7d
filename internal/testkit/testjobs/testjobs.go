// Package testjobs registers jobs that tests run on member processes: the
// weir binary links it when built with the weirtest tag.
package testjobs

import (
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// Reading is an input event of the counting job: a sensor reading of a
// vehicle, with a sequence number unique in the test.
type Reading struct {
	Vehicle string `msgpack:"v"`
	Seq     int64  `msgpack:"s"`
}

// CountParams configures the counting job.
type CountParams struct {
	Input  string // map with a journal the readings are put into
	Counts string // map the counts go to
	Dir    string // directory of the file sink ("" for none)
	// Also, when set, writes the counts to this map too: a second version
	// of the job, with a vertex the first has not, to start from the
	// first's exported snapshot.
	Also string
}

// Count is the exactly-once job of the chaos tests: readings from a map's
// journal, counted per vehicle with keyed state into a map, and written one
// line each into files by two-phase commit.
const Count = "testjobs.count"

func init() {
	dag.Register(Count, func(p CountParams) (*dag.DAG, error) {
		pl := pipeline.New()
		events := pipeline.ReadFrom(pl, sources.MapJournal[string, Reading](p.Input, sources.FromOldest), pipeline.NoTimestamps[grid.Event[string, Reading]]())
		added := pipeline.Filter(events, func(e grid.Event[string, Reading]) bool { return e.Type == grid.Added })
		readings := pipeline.Map(added, func(e grid.Event[string, Reading]) Reading { return e.Value })
		counts := pipeline.RollingAggregate(pipeline.GroupBy(readings, func(r Reading) string { return r.Vehicle }), pipeline.Count[Reading]())
		pipeline.WriteTo(counts, sinks.Map[string, int64](p.Counts))
		if p.Also != "" {
			pipeline.WriteTo(counts, sinks.Map[string, int64](p.Also))
		}
		if p.Dir != "" {
			pipeline.WriteTo(readings, sinks.Files(p.Dir, Reading.Line))
		}
		return pl.Compile()
	})
}

// Interval is the snapshot interval the chaos tests use.
const Interval = 100 * time.Millisecond
