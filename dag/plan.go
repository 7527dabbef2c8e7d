package dag

import (
	"fmt"
	"time"

	"github.com/weir-dev/weir/snapshot"
)

// plan is what the coordinator sends every member to run a job: enough to
// build the same DAG and to agree on where every instance runs.
type plan struct {
	JobID       string `msgpack:"j"`
	Name        string `msgpack:"n"`
	Params      []byte `msgpack:"p"`
	Fingerprint string `msgpack:"f"`
	// Execution numbers the job's runs; a message for another run is stale.
	Execution uint64 `msgpack:"e"`
	// Members are the IDs of the members running the job; an index into it
	// is a member index.
	Members []string `msgpack:"m"`
	// Parallelism is the local parallelism of vertices that set none.
	Parallelism int `msgpack:"l"`
	// Owners maps each partition to the member index that owns it for this
	// run: partitioned distributed edges deliver there.
	Owners      []int     `msgpack:"o"`
	Coordinator string    `msgpack:"c"`
	Config      JobConfig `msgpack:"g"`
	// Restore is the snapshot this execution starts from, if any.
	Restore *snapshot.Completed `msgpack:"r,omitempty"`
}

func (p *plan) memberIndex(id string) int {
	for i, m := range p.Members {
		if m == id {
			return i
		}
	}
	return -1
}

func (p *plan) parallelism(v *Vertex) int {
	if v.localParallelism > 0 {
		return v.localParallelism
	}
	return p.Parallelism
}

// partitionsOf lists the partitions that member mi's instance li of a vertex
// with parallelism par is responsible for.
func (p *plan) partitionsOf(mi, li, par int) []int {
	var out []int
	for part, owner := range p.Owners {
		if owner == mi && part%par == li {
			out = append(out, part)
		}
	}
	return out
}

// JobConfig holds a job's settings.
type JobConfig struct {
	// LocalParallelism is the default instances per member of vertices that
	// set none. 0: the coordinator's GOMAXPROCS.
	LocalParallelism int `msgpack:"l,omitempty"`
	// Name is a display name; the registered job name is used if empty.
	Name string `msgpack:"n,omitempty"`
	// Guarantee and SnapshotInterval configure fault tolerance.
	Guarantee        Guarantee     `msgpack:"g,omitempty"`
	SnapshotInterval time.Duration `msgpack:"s,omitempty"`
	// ScaleUpDelay is how long the job waits after members join before it
	// restarts on them (0: DefaultScaleUpDelay; negative: never).
	ScaleUpDelay time.Duration `msgpack:"u,omitempty"`
	// FromSnapshot names an exported snapshot to start from.
	FromSnapshot string `msgpack:"f,omitempty"`
}

// WithSnapshotInterval sets how often a job with a processing guarantee
// takes a snapshot (default 10s).
func WithSnapshotInterval(d time.Duration) JobOption {
	return func(c *JobConfig) { c.SnapshotInterval = d }
}

// WithScaleUpDelay sets how long a running job waits after members join
// before moving onto them (negative: never).
func WithScaleUpDelay(d time.Duration) JobOption { return func(c *JobConfig) { c.ScaleUpDelay = d } }

// Guarantee is a job's processing guarantee after a failure.
type Guarantee uint8

// Processing guarantees.
const (
	// None: after a failure the job fails, or restarts from scratch.
	None Guarantee = iota
	// AtLeastOnce: restarts from the last snapshot; items after it may be
	// processed again.
	AtLeastOnce
	// ExactlyOnce: restarts from the last snapshot with every item's effect
	// on state and on two-phase-commit sinks counted once.
	ExactlyOnce
)

func (g Guarantee) String() string {
	switch g {
	case None:
		return "none"
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("guarantee(%d)", uint8(g))
}

// JobOption changes a job's configuration at submission.
type JobOption func(*JobConfig)

// WithLocalParallelism sets the default instances per member.
func WithLocalParallelism(n int) JobOption { return func(c *JobConfig) { c.LocalParallelism = n } }

// WithName gives the job a display name.
func WithName(name string) JobOption { return func(c *JobConfig) { c.Name = name } }
