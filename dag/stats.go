package dag

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/member"
)

// JobStats is one job as this member sees it now, for metrics: the
// processors it runs for the job and, on the job's coordinator, the job's
// record and its last snapshot. Reading it takes no lock that processors
// take.
type JobStats struct {
	ID, Name string
	// Coordinated: this member coordinates the job, and Info, Snapshot
	// are set. Exactly one live member coordinates a running job.
	Coordinated bool
	Info        JobInfo
	Snapshot    SnapshotStats
	// Vertices are the job's vertices running on this member, in DAG order.
	Vertices []VertexStats
}

// SnapshotStats describes a job's last completed snapshot, as its
// coordinator took it (ID 0: none since the coordinator took the job).
type SnapshotStats struct {
	ID       uint64
	Duration time.Duration
	Bytes    int64
	Entries  int64
	At       time.Time // when it completed
}

// VertexStats sums one vertex's processor instances on this member.
type VertexStats struct {
	Vertex    string
	Instances int
	ItemsIn   int64
	ItemsOut  int64
	// QueueFill is the fullest inbound queue's share of its capacity, 0 to
	// 1: near 1, the vertex is the bottleneck of its upstream.
	QueueFill float64
	// Watermark is the lowest watermark the vertex's instances have
	// coalesced from their inputs (MinWatermark: none yet; sources, which
	// have no inputs, report the watermark they emitted).
	Watermark int64
	// Late is the sum of the instances' "late" counters (items behind the
	// watermark, counted by windowed aggregations).
	Late int64
}

// LocalStats returns the jobs this member runs or coordinates, sorted by ID.
func LocalStats(m member.Services) []JobStats { return serviceOf(m).localStats() }

func (s *service) localStats() []JobStats {
	s.mu.Lock()
	execs := make([]*execution, 0, len(s.execs))
	for _, ex := range s.execs {
		execs = append(execs, ex)
	}
	coord := make([]*coordJob, 0, len(s.coord))
	for _, cj := range s.coord {
		coord = append(coord, cj)
	}
	s.mu.Unlock()
	byID := map[string]*JobStats{}
	get := func(id, name string) *JobStats {
		js := byID[id]
		if js == nil {
			js = &JobStats{ID: id, Name: name}
			byID[id] = js
		}
		return js
	}
	for _, cj := range coord {
		cj.mu.Lock()
		info := cj.rec.Info
		cj.mu.Unlock()
		js := get(info.ID, info.Name)
		js.Coordinated, js.Info = true, info
		if ls := cj.lastSnap.Load(); ls != nil {
			js.Snapshot = *ls
		}
	}
	for _, ex := range execs {
		get(ex.plan.JobID, ex.plan.Name).Vertices = ex.vertexStats()
	}
	out := make([]JobStats, 0, len(byID))
	for _, js := range byID {
		out = append(out, *js)
	}
	slices.SortFunc(out, func(a, b JobStats) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (ex *execution) vertexStats() []VertexStats {
	var out []VertexStats
	index := map[string]int{}
	for _, t := range ex.tasklets {
		i, ok := index[t.ctx.Vertex]
		if !ok {
			i = len(out)
			index[t.ctx.Vertex] = i
			out = append(out, VertexStats{Vertex: t.ctx.Vertex, Watermark: Idle})
		}
		vs := &out[i]
		vs.Instances++
		vs.ItemsIn += t.itemsIn.Load()
		for _, o := range t.outs {
			vs.ItemsOut += o.emitted()
		}
		for _, in := range t.ins {
			for _, q := range in.queues {
				if n := len(q.buf); n > 0 {
					vs.QueueFill = max(vs.QueueFill, float64(q.tail.Load()-q.head.Load())/float64(n))
				}
			}
		}
		vs.Watermark = min(vs.Watermark, t.wmPublished.Load())
		if c, ok := t.ctx.counters.Load("late"); ok {
			vs.Late += c.(interface{ Load() int64 }).Load()
		}
	}
	for i := range out {
		if out[i].Watermark == Idle {
			out[i].Watermark = MinWatermark
		}
	}
	return out
}

// Graph is a job's DAG: its vertices and edges.
type Graph struct {
	Vertices []GraphVertex
	Edges    []GraphEdge
}

// GraphVertex is a vertex of a Graph; Parallelism 0 means the job's default.
type GraphVertex struct {
	Name        string
	Parallelism int
}

// GraphEdge is an edge of a Graph.
type GraphEdge struct {
	From, To               string
	FromOrdinal, ToOrdinal int
	Routing                string
	Distributed            bool
}

// Graph returns the job's DAG, built on this member from the job's name
// and parameters as every member running it builds it.
func (j *Job) Graph(ctx context.Context) (Graph, error) {
	rec, ok, err := j.s.jobs.Get(ctx, j.ID)
	if err != nil {
		return Graph{}, err
	}
	if !ok {
		return Graph{}, fmt.Errorf("%w: no job %s", ErrUnknownJob, j.ID)
	}
	d, err := buildJob(rec.Info.Name, rec.Params)
	if err != nil {
		return Graph{}, err
	}
	return d.graph(), nil
}

func (d *DAG) graph() Graph {
	var g Graph
	for _, v := range d.vertices {
		g.Vertices = append(g.Vertices, GraphVertex{Name: v.name, Parallelism: v.localParallelism})
	}
	for _, e := range d.edges {
		g.Edges = append(g.Edges, GraphEdge{From: e.from.name, To: e.to.name, FromOrdinal: e.fromOrd, ToOrdinal: e.toOrd,
			Routing: e.routing.String(), Distributed: e.distributed})
	}
	return g
}
