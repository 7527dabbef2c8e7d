package dag

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// DAG is a job's processing graph: named vertices joined by edges. Build it
// with New, AddVertex and Connect; a job's builder returns one (see
// Register). A DAG is a description: nothing runs until the job is submitted.
type DAG struct {
	vertices []*Vertex
	byName   map[string]*Vertex
	edges    []*edge
	errs     []error
}

// New returns an empty DAG.
func New() *DAG { return &DAG{byName: map[string]*Vertex{}} }

// Supplier creates one processor instance. It is called once per instance
// on every member that runs the vertex.
type Supplier func() Processor

// Vertex is a named step of the DAG, run as LocalParallelism processor
// instances on every member.
type Vertex struct {
	d        *DAG
	name     string
	supplier Supplier
	// localParallelism is the instances per member; 0 means the job's
	// default (the coordinator's GOMAXPROCS).
	localParallelism int
	inbound          []*edge // by destination ordinal
	outbound         []*edge // by source ordinal
	// unreplayable names a source that cannot replay what it read, which
	// rules out processing guarantees.
	unreplayable string
}

// NotReplayable marks the vertex as a source that cannot read again from a
// saved position: jobs with a processing guarantee refuse it.
func (v *Vertex) NotReplayable(source string) *Vertex { v.unreplayable = source; return v }

// AddVertex adds a vertex whose instances are created by supplier.
func (d *DAG) AddVertex(name string, supplier Supplier) *Vertex {
	v := &Vertex{d: d, name: name, supplier: supplier}
	switch {
	case name == "":
		d.errs = append(d.errs, errors.New("vertex with an empty name"))
	case d.byName[name] != nil:
		d.errs = append(d.errs, fmt.Errorf("two vertices named %q", name))
	case supplier == nil:
		d.errs = append(d.errs, fmt.Errorf("vertex %q has no processor supplier", name))
	}
	d.vertices = append(d.vertices, v)
	d.byName[name] = v
	return v
}

// LocalParallelism sets how many instances run on each member (default:
// the coordinator's GOMAXPROCS).
func (v *Vertex) LocalParallelism(n int) *Vertex {
	if n < 1 {
		v.d.errs = append(v.d.errs, fmt.Errorf("vertex %q: local parallelism %d", v.name, n))
	}
	v.localParallelism = n
	return v
}

// Name is the vertex's name.
func (v *Vertex) Name() string { return v.name }

// Routing says which downstream instances receive an item.
type Routing uint8

// Routings.
const (
	// Unicast sends each batch of items to one downstream instance, in turn.
	Unicast Routing = iota
	// Isolated connects upstream instance i to downstream instance i only;
	// both vertices need the same parallelism. Local edges only.
	Isolated
	// Partitioned sends an item to the instance responsible for its key's
	// partition. On a distributed edge that instance runs on the member owning
	// the partition in the map partition table when the job started, so a
	// keyed step runs next to the map data with the same key.
	Partitioned
	// Broadcast sends every item to every downstream instance.
	Broadcast
	// AllToOne sends every item to a single instance: on a distributed
	// edge, instance 0 on the job's first member (one in the cluster); on
	// a local edge, instance 0 on each member.
	AllToOne
)

func (r Routing) String() string {
	return [...]string{"unicast", "isolated", "partitioned", "broadcast", "all-to-one"}[r]
}

// edge is the untyped part of an edge; Edge[T] is its typed handle.
type edge struct {
	from, to       *Vertex
	fromOrd, toOrd int
	routing        Routing
	distributed    bool
	priority       int
	queueSize      int // batches per queue
	batchSize      int // items per batch
	item           edgeType
	keyName        string // describes the partition function for the fingerprint
	// keepOrder: an edge that becomes Isolated if it stays local and
	// unicast between equal parallelisms (see Edge.KeepOrder).
	keepOrder bool
	reuse     bool // see ReuseMemory
}

// Edge connects an output of one vertex to an input of another, carrying
// items of type T. Configure it with its methods before the job is submitted.
type Edge[T any] struct{ e *edge }

// Connect adds an edge from output fromOrd of from to input toOrd of to,
// carrying items of type T. By default it is a local, unicast edge.
func Connect[T any](from *Vertex, fromOrd int, to *Vertex, toOrd int) Edge[T] {
	d := from.d
	e := &edge{from: from, to: to, fromOrd: fromOrd, toOrd: toOrd, queueSize: defaultQueueSize, batchSize: defaultBatchSize, item: newEdgeType[T]()}
	if to.d != d {
		d.errs = append(d.errs, fmt.Errorf("edge %s -> %s joins vertices of different DAGs", from.name, to.name))
	}
	d.edges = append(d.edges, e)
	return Edge[T]{e}
}

// Between is Connect from output 0 to input 0.
func Between[T any](from, to *Vertex) Edge[T] { return Connect[T](from, 0, to, 0) }

// Distributed makes the edge cross members: items may go to instances on
// other members, over the transport.
func (e Edge[T]) Distributed() Edge[T] { e.e.distributed = true; return e }

// Isolated routes instance i's items to instance i.
func (e Edge[T]) Isolated() Edge[T] { e.e.routing = Isolated; return e }

// Broadcast sends every item to every instance.
func (e Edge[T]) Broadcast() Edge[T] { e.e.routing = Broadcast; return e }

// AllToOne sends every item to one instance.
func (e Edge[T]) AllToOne() Edge[T] { e.e.routing = AllToOne; return e }

// ReuseMemory lets a distributed edge reuse the memory of each message it
// receives, once the consumer has processed the batch decoded from it, as
// Flink's object reuse does: the edge then allocates nothing per message,
// which saves the garbage collector most of its work on an edge of small
// strings. The cost is a promise of the consumer's: strings and byte
// slices among the items share that memory, so it must not keep them, nor
// emit them, nor any item that holds them, beyond its Process call without
// copying them (strings.Clone, bytes.Clone). A value kept uncopied changes
// under it. Suited to sinks that write items out, and to stages that
// derive new values from them. Items without pointers (numbers, and
// arrays and structs of them) never share their message: their edges reuse
// memory without being asked. Broadcast batches, shared by the consumers,
// are never reused.
func (e Edge[T]) ReuseMemory() Edge[T] { e.e.reuse = true; return e }

// Priority orders the inputs of the destination: it reads no item from an
// edge until every edge with a lower priority value has completed (for hash
// joins, the side to build first gets the lower value). Default 0.
func (e Edge[T]) Priority(p int) Edge[T] { e.e.priority = p; return e }

// Queue sizes the edge's queues: batches per queue and items per batch
// (defaults 16 and 1024). Memory per queue is bounded by their product.
func (e Edge[T]) Queue(batches, batchSize int) Edge[T] {
	e.e.queueSize, e.e.batchSize = batches, batchSize
	return e
}

// KeepOrder asks the edge to keep the order in which each producer instance
// emitted its items, where that costs nothing: when the DAG is validated
// (Validate), a local Unicast edge between vertices of equal local
// parallelism becomes Isolated, instance i feeding instance i. The pipeline
// API marks every edge it makes so.
func (e Edge[T]) KeepOrder() Edge[T] { e.e.keepOrder = true; return e }

// PartitionBy makes e partitioned by key: items with equal keys go to the
// same instance. key must be deterministic; keys are encoded like map keys,
// so an item goes to the member owning the same key in a grid.Map.
func PartitionBy[T any, K comparable](e Edge[T], key func(T) K) Edge[T] {
	e.e.routing = Partitioned
	e.e.keyName = reflect.TypeFor[K]().String()
	e.e.item.(*typedEdge[T]).setKey(keyFunc[T, K](key))
	return e
}

func (d *DAG) vertex(name string) *Vertex { return d.byName[name] }

// unreplayable returns the first source that cannot replay, or "".
func (d *DAG) unreplayable() string {
	for _, v := range d.vertices {
		if v.unreplayable != "" {
			return v.unreplayable
		}
	}
	return ""
}

// Vertices returns the vertices in the order they were added.
func (d *DAG) Vertices() []*Vertex { return slices.Clone(d.vertices) }

// Validate settles the edges marked KeepOrder, then checks the DAG's shape
// as building a job does: ordinals dense, Isolated edges between equal
// parallelisms, no cycle. A DAG builder (such as pipeline's compiler) calls
// it once the DAG is complete.
func (d *DAG) Validate() error {
	for _, e := range d.edges {
		if e.keepOrder && e.routing == Unicast && !e.distributed && e.from.localParallelism == e.to.localParallelism {
			e.routing = Isolated
		}
	}
	return d.validate()
}

// validate checks the DAG's shape once it is complete: ordinals dense,
// Isolated edges between equal parallelisms, no cycle.
func (d *DAG) validate() error {
	errs := slices.Clone(d.errs)
	for _, v := range d.vertices {
		v.inbound, v.outbound = nil, nil
	}
	for _, e := range d.edges {
		add := func(list *[]*edge, ord int, what string, v *Vertex) {
			for len(*list) <= ord {
				*list = append(*list, nil)
			}
			if (*list)[ord] != nil {
				errs = append(errs, fmt.Errorf("vertex %q has two %s edges at ordinal %d", v.name, what, ord))
			}
			(*list)[ord] = e
		}
		if e.fromOrd < 0 || e.toOrd < 0 {
			errs = append(errs, fmt.Errorf("edge %s -> %s: negative ordinal", e.from.name, e.to.name))
			continue
		}
		add(&e.from.outbound, e.fromOrd, "outbound", e.from)
		add(&e.to.inbound, e.toOrd, "inbound", e.to)
		if e.routing == Isolated && e.distributed {
			errs = append(errs, fmt.Errorf("edge %s -> %s: isolated edges are local", e.from.name, e.to.name))
		}
		if e.routing == Isolated && e.from.localParallelism != e.to.localParallelism {
			errs = append(errs, fmt.Errorf("isolated edge %s -> %s needs equal local parallelism", e.from.name, e.to.name))
		}
		if e.reuse && !e.distributed {
			errs = append(errs, fmt.Errorf("edge %s -> %s: ReuseMemory applies to distributed edges", e.from.name, e.to.name))
		}
		if e.queueSize < 1 || e.batchSize < 1 {
			errs = append(errs, fmt.Errorf("edge %s -> %s: queue size and batch size must be positive", e.from.name, e.to.name))
		}
	}
	for _, v := range d.vertices {
		for i, e := range v.inbound {
			if e == nil {
				errs = append(errs, fmt.Errorf("vertex %q: no inbound edge at ordinal %d", v.name, i))
			}
		}
		for i, e := range v.outbound {
			if e == nil {
				errs = append(errs, fmt.Errorf("vertex %q: no outbound edge at ordinal %d", v.name, i))
			}
		}
	}
	if err := d.checkAcyclic(); err != nil {
		errs = append(errs, err)
	}
	if len(d.vertices) == 0 {
		errs = append(errs, errors.New("the DAG has no vertices"))
	}
	return errors.Join(errs...)
}

func (d *DAG) checkAcyclic() error {
	state := map[*Vertex]int{} // 1 visiting, 2 done
	var visit func(v *Vertex, path []string) error
	visit = func(v *Vertex, path []string) error {
		switch state[v] {
		case 1:
			return fmt.Errorf("the DAG has a cycle: %s -> %s", strings.Join(path, " -> "), v.name)
		case 2:
			return nil
		}
		state[v] = 1
		for _, e := range v.outbound {
			if e != nil {
				if err := visit(e.to, append(path, v.name)); err != nil {
					return err
				}
			}
		}
		state[v] = 2
		return nil
	}
	for _, v := range d.vertices {
		if err := visit(v, nil); err != nil {
			return err
		}
	}
	return nil
}

// fingerprint summarizes the DAG's shape, so members can check they built
// the same one from a job's name and parameters.
func (d *DAG) fingerprint() string {
	h := sha256.New()
	for _, v := range d.vertices {
		fmt.Fprintf(h, "v %q %d\n", v.name, v.localParallelism)
	}
	for _, e := range d.edges {
		fmt.Fprintf(h, "e %q %d %q %d %s %v %d %s %s\n", e.from.name, e.fromOrd, e.to.name, e.toOrd, e.routing, e.distributed, e.priority, e.item.name(), e.keyName)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// String describes the DAG, one line per vertex and edge.
func (d *DAG) String() string {
	var sb strings.Builder
	for _, v := range d.vertices {
		fmt.Fprintf(&sb, "vertex %s (parallelism %d)\n", v.name, v.localParallelism)
	}
	for _, e := range d.edges {
		dist := "local"
		if e.distributed {
			dist = "distributed"
		}
		fmt.Fprintf(&sb, "edge %s[%d] -> %s[%d] %s %s %s\n", e.from.name, e.fromOrd, e.to.name, e.toOrd, dist, e.routing, e.item.name())
	}
	return sb.String()
}

const (
	defaultQueueSize = 16
	defaultBatchSize = 1024
)
