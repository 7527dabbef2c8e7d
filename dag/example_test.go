package dag_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// Jobs are registered by name in every binary that runs members, from an
// init function; their parameters travel as msgpack, so their fields are
// exported.

// Speed is a truck's speed at one moment.
type Speed struct {
	Truck string  `msgpack:"t"`
	Kmh   float64 `msgpack:"k"`
}

// TruckCount is how many of a truck's speeds were over the limit.
type TruckCount struct {
	Truck string `msgpack:"t"`
	N     int    `msgpack:"n"`
}

// SpeedingParams are the parameters of the core-API job.
type SpeedingParams struct {
	Speeds []Speed
	Limit  float64
	Counts string // the map the counts go to
}

func init() {
	dag.Register("example.speeding", func(p SpeedingParams) (*dag.DAG, error) {
		d := dag.New()
		speeds := d.AddVertex("speeds", dag.SliceP(p.Speeds))
		count := d.AddVertex("count-speeding", func() dag.Processor { return &speedingCounter{limit: p.Limit} })
		store := d.AddVertex("store", dag.SinkP(func(ctx *dag.Context, counts []TruckCount) error {
			m := grid.GetMap[string, int](ctx, p.Counts)
			for _, c := range counts {
				if err := m.Put(ctx.Context(), c.Truck, c.N); err != nil {
					return err
				}
			}
			return nil
		}))
		// A truck's speeds all reach the one instance, in the cluster,
		// that counts that truck; the counts stay on the member that
		// computed them.
		dag.PartitionBy(dag.Between[Speed](speeds, count).Distributed(), func(s Speed) string { return s.Truck })
		dag.Between[TruckCount](count, store)
		return d, nil
	})
}

// speedingCounter is a processor of the core API: it counts each truck's
// speeds over the limit and emits the counts once its input is complete.
type speedingCounter struct {
	limit  float64
	counts map[string]int
	out    *dag.Emitter[TruckCount]
	emit   []TruckCount // counts not yet taken by the edge
	ready  bool         // emit holds every count
}

func (c *speedingCounter) Init(ctx *dag.Context) (err error) {
	c.counts = map[string]int{}
	c.out, err = dag.Output[TruckCount](ctx, 0)
	return err
}

func (c *speedingCounter) Process(_ int, in *dag.Inbox) error {
	for _, s := range dag.Items[Speed](in) {
		if s.Kmh > c.limit {
			c.counts[s.Truck]++
		}
	}
	in.Consume(in.Len()) // everything handled: the batch goes back to its pool
	return nil
}

func (c *speedingCounter) Complete() (bool, error) {
	if !c.ready {
		for truck, n := range c.counts {
			c.emit = append(c.emit, TruckCount{Truck: truck, N: n})
		}
		c.counts, c.ready = nil, true
	}
	for len(c.emit) > 0 {
		if !c.out.Offer(c.emit[0]) {
			return false, nil // the edge is full: the engine calls again
		}
		c.emit = c.emit[1:]
	}
	return true, nil
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

// A DAG written with the core API: a source vertex, a vertex running a
// processor of our own behind a partitioned, distributed edge, and a sink.
func ExampleNew() {
	ctx := context.Background()
	m := startMember(ctx)
	defer m.Shutdown(ctx)

	speeds := []Speed{
		{"truck-1", 92}, {"truck-2", 75}, {"truck-1", 101}, {"truck-3", 95},
		{"truck-2", 88}, {"truck-1", 84}, {"truck-3", 64}, {"truck-1", 97},
	}
	job, err := dag.Submit(ctx, m, "example.speeding", SpeedingParams{Speeds: speeds, Limit: 90, Counts: "speeding"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	counts, _ := grid.GetMap[string, int](m, "speeding").GetAll(ctx, []string{"truck-1", "truck-2", "truck-3"})
	for _, truck := range slices.Sorted(maps.Keys(counts)) {
		fmt.Println(truck, counts[truck])
	}
	// Output:
	// truck-1 3
	// truck-3 1
}
