package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/weir-dev/weir/dag"
)

// controlTimeout bounds a job control call: a suspend or an export waits
// for a snapshot.
const controlTimeout = 5 * time.Minute

// JobSummary is one job in the answer of GET /api/v1/jobs.
type JobSummary struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Status      string    `json:"status"`
	Error       string    `json:"error,omitempty"`
	Submitted   time.Time `json:"submitted"`
	Ended       time.Time `json:"ended,omitzero"`
	Coordinator string    `json:"coordinator"`
	Members     []string  `json:"members"` // names
	Restarts    int       `json:"restarts"`
	Execution   uint64    `json:"execution"`
	Snapshots   uint64    `json:"snapshots"`
	// RestoredFrom is the snapshot the current execution started from.
	RestoredFrom uint64 `json:"restoredFrom,omitempty"`
	Guarantee    string `json:"guarantee"`
}

// JobDetail is the answer of GET /api/v1/jobs/{id}.
type JobDetail struct {
	JobSummary
	Vertices []VertexDetail `json:"vertices"`
	Edges    []EdgeDetail   `json:"edges"`
	// LastSnapshot is set when the answering member coordinates the job.
	LastSnapshot *SnapshotDetail `json:"lastSnapshot,omitempty"`
	// MetricsError says why the vertices' metrics are missing or partial.
	MetricsError string `json:"metricsError,omitempty"`
}

// VertexDetail is a vertex with its metrics summed over the members.
type VertexDetail struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
	ItemsIn   int64  `json:"itemsIn"`
	ItemsOut  int64  `json:"itemsOut"`
	Queued    int64  `json:"queued"`
	Late      int64  `json:"late"`
	// WatermarkLagSeconds is the wall clock minus the vertex's lowest
	// watermark; absent before the first watermark.
	WatermarkLagSeconds *float64 `json:"watermarkLagSeconds,omitempty"`
}

// EdgeDetail is an edge of the job's DAG.
type EdgeDetail struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Routing     string `json:"routing"`
	Distributed bool   `json:"distributed"`
}

// SnapshotDetail is a job's last snapshot.
type SnapshotDetail struct {
	ID              uint64    `json:"id"`
	DurationSeconds float64   `json:"durationSeconds"`
	Bytes           int64     `json:"bytes"`
	Entries         int64     `json:"entries"`
	At              time.Time `json:"at"`
}

func (s *service) summary(info dag.JobInfo) JobSummary {
	js := JobSummary{ID: info.ID, Name: info.Name, Status: info.Status.String(), Error: info.Error,
		Submitted: info.Submitted, Ended: info.Ended, Restarts: info.Restarts, Execution: info.Execution,
		Snapshots: info.Snapshots, RestoredFrom: info.RestoredFrom, Guarantee: info.Config.Guarantee.String(),
		Members: []string{}}
	js.Coordinator = s.nameOf(info.Coordinator)
	for _, id := range info.Members {
		js.Members = append(js.Members, s.nameOf(id))
	}
	return js
}

func (s *service) nameOf(id string) string {
	if info, ok := s.h.MemberByID(id); ok {
		return info.Name
	}
	return id
}

func (s *service) getJobs(w http.ResponseWriter, r *http.Request) {
	infos, err := dag.Jobs(r.Context(), s.h)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]JobSummary, 0, len(infos))
	for _, info := range infos {
		out = append(out, s.summary(info))
	}
	writeJSON(w, out)
}

func (s *service) jobDetail(ctx context.Context, id string) (JobDetail, error) {
	j := dag.JobByID(s.h, id)
	info, err := j.Info(ctx)
	if err != nil {
		return JobDetail{}, err
	}
	d := JobDetail{JobSummary: s.summary(info), Vertices: []VertexDetail{}, Edges: []EdgeDetail{}}
	g, err := j.Graph(ctx)
	if err != nil {
		return d, err
	}
	index := map[string]int{}
	for i, v := range g.Vertices {
		index[v.Name] = i
		d.Vertices = append(d.Vertices, VertexDetail{Name: v.Name})
	}
	for _, e := range g.Edges {
		d.Edges = append(d.Edges, EdgeDetail{From: e.From, To: e.To, Routing: e.Routing, Distributed: e.Distributed})
	}
	if !info.Status.Terminal() && info.Status != dag.Suspended {
		pms, err := j.Metrics(ctx)
		if err != nil {
			d.MetricsError = err.Error()
		}
		now := time.Now()
		lowest := make([]int64, len(d.Vertices))
		for i := range lowest {
			lowest[i] = dag.Idle
		}
		for _, pm := range pms {
			i, ok := index[pm.Vertex]
			if !ok {
				continue
			}
			v := &d.Vertices[i]
			v.Instances++
			v.ItemsIn += pm.ItemsIn
			v.ItemsOut += pm.ItemsOut
			v.Queued += pm.Queued
			v.Late += pm.Counters["late"]
			lowest[i] = min(lowest[i], pm.Watermark)
		}
		for i, wm := range lowest {
			if lag, ok := watermarkLag(wm, now); ok {
				sec := lag.Seconds()
				d.Vertices[i].WatermarkLagSeconds = &sec
			}
		}
	}
	for _, js := range dag.LocalStats(s.h) {
		if js.ID == id && js.Coordinated && js.Snapshot.ID != 0 {
			sn := js.Snapshot
			d.LastSnapshot = &SnapshotDetail{ID: sn.ID, DurationSeconds: sn.Duration.Seconds(), Bytes: sn.Bytes, Entries: sn.Entries, At: sn.At}
		}
	}
	return d, nil
}

func (s *service) getJob(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	d, err := s.jobDetail(ctx, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, d)
}

var jobActions = []string{"cancel", "suspend", "resume", "restart", "export"}

func (s *service) controlJob(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !slices.Contains(jobActions, action) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown job action %q: want one of %v", action, jobActions))
		return
	}
	name := r.URL.Query().Get("name")
	if action == "export" && name == "" {
		writeError(w, http.StatusBadRequest, "export needs the snapshot's name: ?name=NAME")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), controlTimeout)
	defer cancel()
	j := dag.JobByID(s.h, id)
	if _, err := j.Info(ctx); err != nil {
		fail(w, err)
		return
	}
	var err error
	switch action {
	case "cancel":
		err = j.Cancel(ctx)
	case "suspend":
		err = j.Suspend(ctx)
	case "resume":
		err = j.Resume(ctx)
	case "restart":
		err = j.Restart(ctx)
	case "export":
		err = j.ExportSnapshot(ctx, name)
	}
	if err != nil {
		if errors.Is(err, dag.ErrUnknownJob) {
			fail(w, err)
			return
		}
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	info, err := j.Info(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, s.summary(info))
}
