package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Debian's Prometheus, started by the test on a free port with a
// generated configuration, scrapes a 3-member cluster running a job; PromQL
// through its HTTP API then finds the job's throughput and each member's
// partitions: the metrics are scrapeable and named as queries expect.
func TestPrometheusScrapes(t *testing.T) {
	e2e(t)
	exe, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus on PATH: apt-get install -y prometheus (.ci/run does) to run this test")
	}
	r := startRunning(t)

	dir := t.TempDir()
	var targets []string
	for _, u := range r.url {
		targets = append(targets, strconv.Quote(strings.TrimPrefix(u, "http://")))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
  - job_name: weir
    static_configs:
      - targets: [%s]
`, strings.Join(targets, ", "))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, exe, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})

	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "prometheus did not get ready")
	query := func(q string) []sample {
		code, body := call(t, "GET", "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), "", nil)
		if code != http.StatusOK {
			return nil
		}
		var resp struct {
			Status string
			Data   struct{ Result []sample }
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp), body)
		return resp.Data.Result
	}
	id := r.job.Job.ID
	var got []sample
	require.Eventually(t, func() bool {
		got = query(fmt.Sprintf(`sum by (job_id) (rate(weir_job_vertex_items_out_total{job_id=%q,vertex="journal-readings"}[5s]))`, id))
		return len(got) == 1 && got[0].value() > 0
	}, time.Minute, 200*time.Millisecond, "throughput: %v", got)
	t.Logf("job %s reads %.0f items/s", id, got[0].value())

	require.Eventually(t, func() bool {
		got = query(`weir_member_partitions{job="weir",role="owner"}`)
		return len(got) == 3
	}, time.Minute, 200*time.Millisecond, "partitions: %v", got)
	total := 0.0
	seen := map[string]bool{}
	for _, s := range got {
		require.Positive(t, s.value())
		total += s.value()
		seen[s.Metric["instance"]] = true
	}
	require.Len(t, seen, 3)
	require.Equal(t, 271.0, total)
}

type sample struct {
	Metric map[string]string
	Value  [2]any
}

func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(str, 64)
	return f
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
