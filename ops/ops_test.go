package ops_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/ops"
)

// One cluster for the endpoints: health, the API, metrics, the token, job
// control. The browser and Prometheus tests have their own.
func TestEndpoints(t *testing.T) {
	r := startRunning(t)
	u := r.url[1] // a member that is not the job's submitter
	id := r.job.Job.ID

	code, _ := call(t, "GET", u+"/healthz", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool { c, _ := call(t, "GET", u+"/readyz", "", nil); return c == http.StatusOK }, 30*time.Second, 50*time.Millisecond)

	t.Run("cluster", func(t *testing.T) {
		var c ops.Cluster
		getJSON(t, u+"/api/v1/cluster", &c)
		require.Len(t, c.Members, 3)
		owned := 0
		for _, m := range c.Members {
			require.Empty(t, m.Error)
			require.Positive(t, m.Owned)
			owned += m.Owned
		}
		require.Equal(t, c.Partitions, owned)
	})

	t.Run("jobs", func(t *testing.T) {
		var js []ops.JobSummary
		getJSON(t, u+"/api/v1/jobs", &js)
		require.Len(t, js, 1)
		require.Equal(t, id, js[0].ID)
		require.Equal(t, "running", js[0].Status)
		var d ops.JobDetail
		require.Eventually(t, func() bool {
			getJSON(t, u+"/api/v1/jobs/"+id, &d)
			return len(d.Vertices) > 0 && d.Vertices[0].ItemsOut > 0
		}, 30*time.Second, 50*time.Millisecond)
		require.NotEmpty(t, d.Edges)
		for _, v := range d.Vertices {
			require.Equal(t, 3*v.Instances/3, v.Instances)
			require.Positive(t, v.Instances, v.Name)
		}
		code, body := call(t, "GET", u+"/api/v1/jobs/nope", "", nil)
		require.Equal(t, http.StatusNotFound, code, body)
	})

	t.Run("maps", func(t *testing.T) {
		code, body := call(t, "PUT", u+"/api/v1/maps/ops-test/entries/k1", "", strings.NewReader(`{"a":[1,2.5,"x"]}`))
		require.Equal(t, http.StatusUnauthorized, code, body)
		code, body = call(t, "PUT", u+"/api/v1/maps/ops-test/entries/k1", "wrong", strings.NewReader(`1`))
		require.Equal(t, http.StatusForbidden, code, body)
		code, body = call(t, "PUT", u+"/api/v1/maps/ops-test/entries/k1", token, strings.NewReader(`{"a":[1,2.5,"x"]`))
		require.Equal(t, http.StatusBadRequest, code, body)
		code, body = call(t, "PUT", u+"/api/v1/maps/ops-test/entries/k1", token, strings.NewReader(`{"a":[1,2.5,"x"]}`))
		require.Equal(t, http.StatusOK, code, body)
		// A Go program reads what the API wrote, with its own types.
		type doc struct{ A []any }
		v, ok, err := grid.GetMap[string, map[string]any](r.ms[2], "ops-test").Get(clustertest.Ctx(t, time.Minute), "k1")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []any{int8(1), 2.5, "x"}, v["a"])
		var e ops.Entry
		getJSON(t, u+"/api/v1/maps/ops-test/entries/k1", &e)
		require.True(t, e.Found)
		require.Equal(t, map[string]any{"a": []any{float64(1), 2.5, "x"}}, e.Value)
		var ms []ops.MapSummary
		getJSON(t, u+"/api/v1/maps", &ms)
		names := map[string]ops.MapSummary{}
		for _, m := range ms {
			names[m.Name] = m
		}
		require.EqualValues(t, 1, names["ops-test"].Entries)
		require.Positive(t, names["readings"].Entries)
		require.Len(t, names["readings"].EntriesByMember, 3)
		code, body = call(t, "DELETE", u+"/api/v1/maps/ops-test/entries/k1", token, nil)
		require.Equal(t, http.StatusNoContent, code, body)
		var s ops.MapSize
		getJSON(t, u+"/api/v1/maps/ops-test", &s)
		require.Zero(t, s.Size)
	})

	t.Run("metrics", func(t *testing.T) {
		var body string
		require.Eventually(t, func() bool {
			var code int
			code, body = call(t, "GET", r.url[0]+"/metrics", "", nil)
			return code == http.StatusOK && strings.Contains(body, `weir_job_vertex_items_out_total{job_id="`+id+`"`) &&
				strings.Contains(body, `weir_map_operations_total{map="readings",op="put"}`)
		}, 30*time.Second, 100*time.Millisecond, body)
		for _, want := range []string{"weir_member_members 3", `weir_member_partitions{role="owner"}`, "weir_transport_sent_bytes_total",
			`weir_map_entries{map="readings",role="owner"}`, `weir_map_operation_duration_seconds_bucket{map="readings",op="put",le="+Inf"}`,
			`weir_map_journal_capacity_events{map="readings"}`} {
			require.Contains(t, body, want)
		}
	})

	t.Run("control", func(t *testing.T) {
		code, body := call(t, "POST", u+"/api/v1/jobs/"+id+"/suspend", "", nil)
		require.Equal(t, http.StatusUnauthorized, code, body)
		code, body = call(t, "POST", u+"/api/v1/jobs/"+id+"/explode", token, nil)
		require.Equal(t, http.StatusNotFound, code, body)
		code, body = call(t, "POST", u+"/api/v1/jobs/"+id+"/suspend", token, nil)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, dag.Suspended, r.job.Info().Status)
		code, body = call(t, "POST", u+"/api/v1/jobs/"+id+"/export?name=ops-export", token, nil)
		require.Equal(t, http.StatusOK, code, body)
		code, body = call(t, "POST", u+"/api/v1/jobs/"+id+"/resume", token, nil)
		require.Equal(t, http.StatusOK, code, body)
		require.Eventually(t, func() bool { return r.job.Info().Status == dag.Running }, 30*time.Second, 20*time.Millisecond)
	})
}

// A member bound to all interfaces serves reads with the token only, and a
// member without a token refuses every write.
func TestAccess(t *testing.T) {
	ctx := clustertest.Ctx(t, time.Minute)
	cfg := clustertest.Config(t)
	cfg.HTTPAddr = "0.0.0.0:0"
	cfg.HTTPToken = token
	m, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Shutdown(context.Background())) }()
	_, port, _ := strings.Cut(ops.Addr(m), "]:")
	if port == "" {
		_, port, _ = strings.Cut(ops.Addr(m), ":")
	}
	u := "http://127.0.0.1:" + port
	code, _ := call(t, "GET", u+"/healthz", "", nil)
	require.Equal(t, http.StatusOK, code)
	for _, path := range []string{"/metrics", "/api/v1/cluster", "/api/v1/jobs"} {
		code, body := call(t, "GET", u+path, "", nil)
		require.Equal(t, http.StatusUnauthorized, code, path+": "+body)
		code, body = call(t, "GET", u+path, token, nil)
		require.Equal(t, http.StatusOK, code, path+": "+body)
	}

	cfg = clustertest.Config(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	n, err := weir.Start(ctx, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, n.Shutdown(context.Background())) }()
	u = "http://" + ops.Addr(n)
	code, body := call(t, "GET", u+"/api/v1/cluster", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(t, "PUT", u+"/api/v1/maps/m/entries/k", "anything", strings.NewReader("1"))
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "no HTTP token configured")
}

// Terminate, which stops the member's goroutines before its services,
// returns with the endpoint attached (it waited forever for the server).
func TestTerminate(t *testing.T) {
	cfg := clustertest.Config(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	m, err := weir.Start(clustertest.Ctx(t, time.Minute), cfg)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { m.Terminate(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Terminate did not return")
	}
}
