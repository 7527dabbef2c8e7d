package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/ops"
)

// run runs a command and returns its exit code, stdout and stderr.
func run(name string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := RunCommand("weir "+name, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The commands against a 3-member cluster running a job, through one
// member's HTTP endpoint.
func TestCommands(t *testing.T) {
	const token = "cli-token"
	cfg := clustertest.Config(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.HTTPToken = token
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	job := jobtest.StartCount(t, ms[0], dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval))
	addr := "--addr=" + ops.Addr(ms[2])
	id := job.Job.ID

	code, out, errOut := run("status", addr)
	require.Equal(t, 0, code, errOut)
	for _, m := range ms {
		require.Contains(t, out, m.Name())
	}
	code, out, _ = run("status", addr, "--output", "json")
	require.Equal(t, 0, code)
	var cl ops.Cluster
	require.NoError(t, json.Unmarshal([]byte(out), &cl))
	require.Len(t, cl.Members, 3)

	code, out, _ = run("jobs", addr)
	require.Equal(t, 0, code)
	require.Contains(t, out, id)
	require.Contains(t, out, "running")
	code, out, _ = run("job", addr, "show", id)
	require.Equal(t, 0, code)
	require.Contains(t, out, "journal-readings")
	require.Contains(t, out, "map-counts")

	// Map commands, with JSON values.
	code, _, errOut = run("map", addr, "--token", token, "put", "cli", "k", `{"n":1}`)
	require.Equal(t, 0, code, errOut)
	code, out, _ = run("map", addr, "get", "cli", "k")
	require.Equal(t, 0, code)
	require.Equal(t, `{"n":1}`+"\n", out)
	code, out, _ = run("map", addr, "size", "cli")
	require.Equal(t, 0, code)
	require.Equal(t, "1\n", out)
	code, out, _ = run("map", "size", "cli", addr, "--output", "json") // flags after the arguments
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"name":"cli","size":1}`, out)
	code, out, _ = run("maps", addr)
	require.Equal(t, 0, code)
	require.Contains(t, out, "readings")
	require.NotContains(t, out, "__weir")
	code, _, _ = run("map", addr, "--token", token, "delete", "cli", "k")
	require.Equal(t, 0, code)
	code, _, errOut = run("map", addr, "get", "cli", "k")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `has no key "k"`)
	code, _, errOut = run("map", addr, "--token", token, "put", "cli", "neg", "-5")
	require.Equal(t, 0, code, errOut)
	code, out, _ = run("map", addr, "get", "cli", "neg")
	require.Equal(t, 0, code)
	require.Equal(t, "-5\n", out)
	code, _, _ = run("map", addr, "--token", token, "delete", "cli", "neg")
	require.Equal(t, 0, code)
	code, _, errOut = run("map", addr, "--token", token, "put", "cli", "k", `not json`)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "is not JSON")

	// Refusals: one line each, exit 1.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{addr, "suspend", id}, "needs the member's token"},
		{[]string{addr, "--token", "wrong", "suspend", id}, "wrong token"},
		{[]string{"--addr", "127.0.0.1:1", "show", id}, "cannot reach 127.0.0.1:1"},
		{[]string{addr, "show", "no-such-job"}, "unknown job"},
	} {
		code, _, errOut = run("job", tc.args...)
		require.Equal(t, 1, code, tc.args)
		require.Contains(t, errOut, tc.want, tc.args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	}

	// A suspend reports progress while it waits for its snapshot.
	progressEvery = time.Millisecond
	defer func() { progressEvery = time.Second }()
	code, out, errOut = run("job", addr, "--token", token, "suspend", id)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "suspend done")
	require.Contains(t, errOut, "suspend job "+id)
	require.Equal(t, dag.Suspended, job.Info().Status)
	code, _, errOut = run("job", addr, "--token", token, "export", id, "cli-export")
	require.Equal(t, 0, code, errOut)
	code, _, errOut = run("job", addr, "--token", token, "resume", id)
	require.Equal(t, 0, code, errOut)
	require.Eventually(t, func() bool { return job.Info().Status == dag.Running }, time.Minute, 20*time.Millisecond)
}

func TestCommandArguments(t *testing.T) {
	code, _, errOut := run("job", "show")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "Usage: weir job")
	code, _, _ = run("maps", "--output", "yaml")
	require.Equal(t, 2, code)
	code, _, _ = run("status", "--help")
	require.Equal(t, 0, code)
}
