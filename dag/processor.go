package dag

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/member"
)

// Processor is one instance of a vertex. The engine calls it from one
// goroutine at a time, its own (see Execution model in the package
// documentation): when an Emitter says the edge is full, the processor
// returns and is called again later. Blocking holds up only this instance
// and what waits on its output, so a sink may block on its external
// system; a processor that blocks delays its snapshots and watermarks as
// long, though, so keep calls that can wait long asynchronous (MapAsync).
//
// Lifecycle: Init once; then Process for each batch of items that arrives on
// an inbound edge (in priority order, see Edge.Priority); optional hooks when
// an edge completes or a watermark advances; then Complete, repeatedly,
// until it reports done. A source (no inbound edges) does its work in
// Complete: emitting until the edge is full, returning done once it has
// emitted everything (or never, if it is unbounded).
type Processor interface {
	// Init prepares the processor: obtain emitters with Output here.
	Init(ctx *Context) error
	// Process handles items from inbound edge ordinal: read them with Items,
	// and mark the ones handled with Consume. Items not consumed are offered
	// again in the next call. Items are read-only (a broadcast edge shares
	// them between instances).
	Process(ordinal int, in *Inbox) error
	// Complete is called once every inbound edge has completed; it is
	// called again until it returns true.
	Complete() (done bool, err error)
}

// EdgeCompleter is implemented by processors that act when one inbound
// edge completes (all its producers finished), such as a hash join that has
// read its build side. Called until it returns true.
type EdgeCompleter interface {
	CompleteEdge(ordinal int) (done bool, err error)
}

// WatermarkHandler is implemented by processors that act on event time,
// such as windows: ProcessWatermark is called when the watermark coalesced
// over all inputs advances (called again until it returns true), and the
// engine then forwards the watermark to every output. Processors without it
// just forward watermarks.
type WatermarkHandler interface {
	ProcessWatermark(wm int64) (done bool, err error)
}

// TryProcessor is implemented by processors with work that does not come
// from an input, such as collecting the results of asynchronous calls or
// expiring state: TryProcess is called in every round of the processor's
// loop, and when its Context is woken. It reports whether it made progress.
type TryProcessor interface {
	TryProcess() (progress bool, err error)
}

// Closer is implemented by processors holding resources; Close is called
// once when the job's execution ends on the member, however it ends.
type Closer interface {
	Close() error
}

// Idle is the watermark value meaning "this input is idle": it emits
// nothing for now and must not hold back the coalesced watermark.
const Idle int64 = math.MaxInt64

// MinWatermark is the watermark before any arrived: every event time is at
// or after it.
const MinWatermark int64 = -1 << 63

// Context is what a processor knows about where it runs.
type Context struct {
	JobID   string
	JobName string
	Vertex  string
	// LocalIndex is this instance's index among the vertex's instances on
	// this member; GlobalIndex among all instances in the cluster.
	LocalIndex, GlobalIndex int
	// LocalParallelism is the vertex's instances per member;
	// TotalParallelism in the cluster.
	LocalParallelism, TotalParallelism int
	// MemberIndex is this member's index among the job's members.
	MemberIndex, MemberCount int
	// Execution numbers the job's runs: it grows with every restart.
	Execution uint64
	// Guarantee is the job's processing guarantee.
	Guarantee Guarantee
	Logger    *slog.Logger

	host        *member.Host
	ctx         context.Context
	outputs     []output
	outputTypes []string
	partitions  []int
	t           *tasklet
	counters    sync.Map // name -> *atomic.Int64
}

var _ member.Services = (*Context)(nil)

// MemberID is the ID of the member the instance runs on; MemberName its
// configured name. Both are empty for a processor run outside a member (in
// a test harness).
func (c *Context) MemberID() string {
	if c.host == nil {
		return ""
	}
	return c.host.ID()
}

// MemberName is the configured name of the member the instance runs on.
func (c *Context) MemberName() string {
	if c.host == nil {
		return ""
	}
	return c.host.Name()
}

// PartitionCount is the cluster's number of map partitions (0 outside a
// member).
func (c *Context) PartitionCount() int {
	if c.host == nil {
		return 0
	}
	return c.host.PartitionCount()
}

// Service returns the member's service called name, or nil: it lets a
// processor reach the member's maps with grid.GetMap(ctx, name).
func (c *Context) Service(name string) member.Attached {
	if c.host == nil {
		return nil
	}
	return c.host.Service(name)
}

// Go runs fn on a goroutine the member tracks (see member.Host.Go): for a
// processor's worker, which must return when fn's context is cancelled.
// Reports false, without running fn, when the member is shutting down or
// the processor runs outside a member.
func (c *Context) Go(fn func(ctx context.Context)) bool {
	return c.host != nil && c.host.Go(fn)
}

// Counter returns the processor's counter called name, created at zero on
// first use. Counters appear in the job's metrics (ProcessorMetrics.Counters).
func (c *Context) Counter(name string) *atomic.Int64 {
	v, _ := c.counters.LoadOrStore(name, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Context is cancelled when the job ends on this member.
func (c *Context) Context() context.Context { return c.ctx }

// Wake makes the engine call the processor soon, from any goroutine: for a
// processor whose asynchronous work completed.
func (c *Context) Wake() {
	if c.t != nil {
		c.t.wakeAlways()
	}
}

// Partitions lists the map partitions this instance is responsible for:
// those owned by this member when the job started, spread over its local
// instances. A source reading map partitions reads these.
func (c *Context) Partitions() []int { return c.partitions }

// EmitWatermark sends a watermark (event time in unix nanoseconds, or Idle)
// on every outbound edge. Like Offer, false means "full, call again".
func (c *Context) EmitWatermark(wm int64) bool {
	if !c.t.emitControlAll(watermarkItem{ts: wm}) {
		return false
	}
	if wm != Idle {
		c.t.wmPublished.Store(wm)
	}
	return true
}

// Inbox holds the items of one batch from one inbound edge.
type Inbox struct {
	b   any
	n   int
	pos int
}

// Items returns the items not yet consumed, typed as the edge's item type.
func Items[T any](in *Inbox) []T {
	return in.b.(*batch[T]).items[in.pos:]
}

// Consume marks the first n remaining items as handled.
func (in *Inbox) Consume(n int) { in.pos = min(in.pos+n, in.n) }

// Len is the number of items not yet consumed.
func (in *Inbox) Len() int { return in.n - in.pos }

func (in *Inbox) set(b any, n int) { in.b, in.n, in.pos = b, n, 0 }
func (in *Inbox) clear()           { in.b, in.n, in.pos = nil, 0, 0 }

// control items travel in queues among batches, in order with them.
type control interface{ isControl() }

type watermarkItem struct{ ts int64 }

// doneItem marks the end of a producer's stream.
type doneItem struct{}

func (watermarkItem) isControl() {}
func (doneItem) isControl()      {}
