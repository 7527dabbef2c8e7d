package ops_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/ops"
)

const token = "s3cret-token"

// e2e skips the end-to-end tests (a browser, Prometheus) unless WEIR_E2E
// is set, as .ci/run sets it: each starts a cluster and a program, longer
// than go test ./... can give it.
func e2e(t *testing.T) {
	if os.Getenv("WEIR_E2E") == "" {
		t.Skip("end-to-end test: set WEIR_E2E=1 to run it (.ci/run does)")
	}
}

// running is a 3-member cluster serving HTTP, with the counting job
// running on it.
type running struct {
	c   *clustertest.Cluster
	ms  []*member.Member
	job *jobtest.Count
	url []string // each member's endpoint, "http://host:port"
}

func startRunning(t *testing.T) *running {
	t.Helper()
	cfg := clustertest.Config(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.HTTPToken = token
	c := clustertest.Start(t, 3, cfg)
	r := &running{c: c, ms: c.Members()}
	for _, m := range r.ms {
		r.url = append(r.url, "http://"+ops.Addr(m))
	}
	r.job = jobtest.StartCount(t, r.ms[0], dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval))
	return r
}

// call does an HTTP request and returns the status and body.
func call(t *testing.T, method, url, tok string, body io.Reader) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// getJSON GETs url (with the token) and decodes a 200 answer into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	code, body := call(t, "GET", url, token, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.NewDecoder(strings.NewReader(body)).Decode(out))
}
