package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// apiTimeout bounds a read that asks other members.
const apiTimeout = 10 * time.Second

func (s *service) routes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/cluster", s.read(http.HandlerFunc(s.getCluster)))
	mux.Handle("GET /api/v1/maps", s.read(http.HandlerFunc(s.getMaps)))
	mux.Handle("GET /api/v1/maps/{name}", s.read(http.HandlerFunc(s.getMap)))
	mux.Handle("GET /api/v1/maps/{name}/entries/{key}", s.read(http.HandlerFunc(s.getEntry)))
	mux.Handle("PUT /api/v1/maps/{name}/entries/{key}", s.write(s.putEntry))
	mux.Handle("DELETE /api/v1/maps/{name}/entries/{key}", s.write(s.deleteEntry))
	mux.Handle("GET /api/v1/jobs", s.read(http.HandlerFunc(s.getJobs)))
	mux.Handle("GET /api/v1/jobs/{id}", s.read(http.HandlerFunc(s.getJob)))
	mux.Handle("POST /api/v1/jobs/{id}/{action}", s.write(s.controlJob))
	mux.Handle("GET /api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}))
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(Error{Error: msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail answers an error from the cluster with a status that says whose it
// is.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, dag.ErrUnknownJob):
		code = http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	case errors.Is(err, grid.ErrWrongType):
		code = http.StatusUnprocessableEntity
	}
	writeError(w, code, err.Error())
}

// Cluster is the answer of GET /api/v1/cluster.
type Cluster struct {
	Name           string          `json:"name"`
	Version        string          `json:"version"`
	This           string          `json:"this"` // the answering member's ID
	Coordinator    string          `json:"coordinator"`
	Partitions     int             `json:"partitions"`
	BackupCount    int             `json:"backupCount"`
	TableVersion   uint64          `json:"tableVersion"`
	Members        []ClusterMember `json:"members"`
	MigrationsLive int             `json:"migrationsPending"` // summed over the members
}

// ClusterMember is one member in a Cluster.
type ClusterMember struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Gossip            string `json:"gossip"`
	Transport         string `json:"transport"`
	Lite              bool   `json:"lite,omitempty"`
	Leaving           bool   `json:"leaving,omitempty"`
	Coordinator       bool   `json:"coordinator,omitempty"`
	Owned             int    `json:"owned"`
	Backups           int    `json:"backups"`
	MigrationsPending int    `json:"migrationsPending"`
	TableVersion      uint64 `json:"tableVersion"`
	GossipHealth      int    `json:"gossipHealth"`
	Error             string `json:"error,omitempty"` // its stats could not be read
}

// forEachMember calls fn for every live member at once and waits.
func forEachMember(infos []member.Info, fn func(i int, info member.Info)) {
	var wg sync.WaitGroup
	for i, info := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, info)
		}()
	}
	wg.Wait()
}

func (s *service) cluster(ctx context.Context) Cluster {
	cfg := s.h.Config()
	c := Cluster{Name: cfg.ClusterName, Version: member.Version, This: s.h.ID(), Partitions: cfg.PartitionCount, BackupCount: cfg.BackupCount}
	if co, ok := s.h.Coordinator(); ok {
		c.Coordinator = co.ID
	}
	t := s.h.Partitions()
	if t != nil {
		c.TableVersion = t.Version()
	}
	infos := s.h.Members()
	c.Members = make([]ClusterMember, len(infos))
	forEachMember(infos, func(i int, info member.Info) {
		cm := ClusterMember{ID: info.ID, Name: info.Name, Gossip: info.GossipAddr, Transport: info.TransportAddr,
			Lite: info.Lite, Leaving: info.Leaving, Coordinator: info.ID == c.Coordinator}
		if t != nil {
			cm.Owned = len(t.Owned(info.ID))
		}
		st, err := s.h.StatsOf(ctx, info.ID)
		if err != nil {
			cm.Error = err.Error()
		} else {
			cm.Backups, cm.MigrationsPending, cm.TableVersion, cm.GossipHealth = st.Backups, st.MigrationsPending, st.TableVersion, st.GossipHealth
		}
		c.Members[i] = cm
	})
	for _, m := range c.Members {
		c.MigrationsLive += m.MigrationsPending
	}
	return c
}

func (s *service) getCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	writeJSON(w, s.cluster(ctx))
}

// MapSummary is one map in the answer of GET /api/v1/maps.
type MapSummary struct {
	Name string `json:"name"`
	// Entries is the sum of the entries the members own.
	Entries int64 `json:"entries"`
	// EntriesByMember is the entries each member owns, by member name.
	EntriesByMember map[string]int64 `json:"entriesByMember"`
	// Operations counts the operations of every member's handles, by kind.
	Operations map[string]int64 `json:"operations"`
	// Internal marks maps weir keeps for itself (job records, snapshots).
	Internal bool `json:"internal,omitempty"`
}

func (s *service) maps(ctx context.Context) ([]MapSummary, error) {
	infos := s.h.Members()
	per := make([][]grid.MapStats, len(infos))
	errs := make([]error, len(infos))
	forEachMember(infos, func(i int, info member.Info) {
		per[i], errs[i] = grid.StatsOf(ctx, s.h, info.ID)
		if errs[i] != nil {
			errs[i] = fmt.Errorf("member %s: %w", info.Name, errs[i])
		}
	})
	byName := map[string]*MapSummary{}
	for i, stats := range per {
		for _, ms := range stats {
			sum := byName[ms.Name]
			if sum == nil {
				sum = &MapSummary{Name: ms.Name, EntriesByMember: map[string]int64{}, Operations: map[string]int64{},
					Internal: strings.HasPrefix(ms.Name, "__")}
				byName[ms.Name] = sum
			}
			sum.Entries += ms.Entries
			sum.EntriesByMember[infos[i].Name] += ms.Entries
			for k, n := range ms.Ops {
				if n > 0 {
					sum.Operations[grid.OpKinds[k]] += n
				}
			}
		}
	}
	out := make([]MapSummary, 0, len(byName))
	for _, m := range byName {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b MapSummary) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

func (s *service) getMaps(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	ms, err := s.maps(ctx)
	if err != nil && len(ms) == 0 {
		fail(w, err)
		return
	}
	writeJSON(w, ms)
}

// MapSize is the answer of GET /api/v1/maps/{name}.
type MapSize struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

func (s *service) getMap(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	n, err := grid.GetMap[any, any](s.h, name).Len(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, MapSize{Name: name, Size: n})
}

// Entry is the answer of GET /api/v1/maps/{name}/entries/{key}.
type Entry struct {
	Key   any  `json:"key"`
	Value any  `json:"value"`
	Found bool `json:"found"`
}

// entryKey reads the key of an entry call: the path segment as a string,
// or, with ?key=json, as a JSON value.
func entryKey(r *http.Request) (any, error) {
	k := r.PathValue("key")
	if r.URL.Query().Get("key") != "json" {
		return k, nil
	}
	v, err := decodeJSON(strings.NewReader(k))
	if err != nil {
		return nil, fmt.Errorf("key %q is not JSON: %w", k, err)
	}
	return v, nil
}

func (s *service) getEntry(w http.ResponseWriter, r *http.Request) {
	k, err := entryKey(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, ok, err := grid.GetMap[any, any](s.h, r.PathValue("name")).Get(r.Context(), k)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, Entry{Key: k, Value: jsonable(v), Found: ok})
}

// maxValue bounds the body of a put.
const maxValue = 16 << 20

func (s *service) putEntry(w http.ResponseWriter, r *http.Request) {
	k, err := entryKey(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, err := decodeJSON(http.MaxBytesReader(w, r.Body, maxValue))
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body must be one JSON value: "+err.Error())
		return
	}
	if err := grid.GetMap[any, any](s.h, r.PathValue("name")).Put(r.Context(), k, v); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, Entry{Key: k, Value: v, Found: true})
}

func (s *service) deleteEntry(w http.ResponseWriter, r *http.Request) {
	k, err := entryKey(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := grid.GetMap[any, any](s.h, r.PathValue("name")).Delete(r.Context(), k); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
