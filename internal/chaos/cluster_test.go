package chaos_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/proctest"
	"github.com/weir-dev/weir/internal/testjobs"
	"github.com/weir-dev/weir/member"
)

// cluster is member processes and an in-process lite member that joined
// them.
type cluster struct {
	t     testing.TB
	procs map[string]*proctest.Proc // live processes by member ID
	all   []*proctest.Proc          // every process started
	obs   *member.Member
	n     int // processes started
}

func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts member processes")
	}
	c := &cluster{t: t, procs: map[string]*proctest.Proc{}}
	t.Cleanup(c.keepLogs)
	first := c.add("")
	for range n - 1 {
		c.add(first.GossipAddr)
	}
	cfg := clustertest.Config(t)
	cfg.Lite = true
	cfg.Join = []string{first.GossipAddr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := member.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = obs.Shutdown(ctx)
	})
	c.obs = obs
	c.waitStable()
	return c
}

// add starts a member process joining at addr ("" for the first).
func (c *cluster) add(addr string) *proctest.Proc {
	c.n++
	args := []string{"--log-level", "debug"}
	if addr != "" {
		args = append(args, "--join", addr)
	}
	p := proctest.StartMember(c.t, fmt.Sprintf("p%d", c.n), args...)
	c.procs[p.ID] = p
	c.all = append(c.all, p)
	return p
}

// keepLogs writes every process's output to files when the test failed.
func (c *cluster) keepLogs() {
	if !c.t.Failed() {
		return
	}
	dir, err := os.MkdirTemp("", "weir-chaos-")
	if err != nil {
		return
	}
	for _, p := range c.all {
		_ = os.WriteFile(filepath.Join(dir, p.Name+".log"), []byte(p.Output()), 0o644)
	}
	c.t.Logf("member process logs: %s", dir)
}

// replace starts a new member process in place of a killed one.
func (c *cluster) replace() *proctest.Proc {
	p := c.add(c.obs.Addr())
	c.waitStable()
	return p
}

// waitStable waits until the lite member sees every live process and a
// balanced table over them.
func (c *cluster) waitStable() {
	c.t.Helper()
	ids := slices.Sorted(maps.Keys(c.procs))
	var last error
	ok := pollUntil(time.Minute, func() bool {
		if n := len(c.obs.Members()); n != len(ids)+1 {
			last = fmt.Errorf("the lite member sees %d members, want %d", n, len(ids)+1)
			return false
		}
		t := c.obs.Partitions()
		if t == nil {
			last = fmt.Errorf("no table")
			return false
		}
		last = clustertest.CheckTable(t, ids, 1)
		return last == nil
	})
	require.True(c.t, ok, "the cluster never settled: %v", last)
}

// coordinator is the process coordinating the cluster (and its jobs).
func (c *cluster) coordinator() *proctest.Proc {
	c.t.Helper()
	p, ok := c.coordinatorProc()
	require.True(c.t, ok, "the coordinator is not a member process")
	return p
}

// coordinatorProc is the coordinating process, if a process coordinates
// (the lite member does once it is the oldest).
func (c *cluster) coordinatorProc() (*proctest.Proc, bool) {
	info, ok := c.obs.Coordinator()
	if !ok {
		return nil, false
	}
	p, ok := c.procs[info.ID]
	return p, ok
}

// other is a live process that does not coordinate.
func (c *cluster) other() *proctest.Proc {
	coord, _ := c.coordinatorProc()
	for _, id := range slices.Sorted(maps.Keys(c.procs)) {
		if p := c.procs[id]; p != coord {
			return p
		}
	}
	c.t.Fatal("no process other than the coordinator")
	return nil
}

// kill sends SIGKILL to p.
func (c *cluster) kill(p *proctest.Proc) {
	p.Kill()
	delete(c.procs, p.ID)
}

// pollUntil checks cond every 10 ms for up to d, as require.Eventually
// does, but on the calling goroutine (cond may call require).
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
}

var snapshotStarted = regexp.MustCompile(`msg="snapshot started"`)

// countJob runs the counting job of internal/testjobs, fed through the
// lite member.
type countJob struct {
	c      *cluster
	job    *dag.Job
	feeder *testjobs.Feeder
	params testjobs.CountParams
}

func startCountJob(t testing.TB, c *cluster, g dag.Guarantee) *countJob {
	t.Helper()
	return startCountJobEvery(t, c, g, testjobs.Interval)
}

// startCountJobEvery starts the job with the given snapshot interval.
func startCountJobEvery(t testing.TB, c *cluster, g dag.Guarantee, interval time.Duration) *countJob {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j := &countJob{c: c, params: testjobs.CountParams{Input: "readings", Counts: "counts", Dir: t.TempDir()}}
	j.feeder = testjobs.Feed(c.obs, j.params.Input)
	t.Cleanup(func() { _, _ = j.feeder.Stop() })
	job, err := dag.Submit(ctx, c.obs, testjobs.Count, j.params,
		dag.WithGuarantee(g), dag.WithSnapshotInterval(interval), dag.WithScaleUpDelay(500*time.Millisecond))
	require.NoError(t, err)
	j.job = job
	t.Cleanup(func() { // before the file sink's directory goes
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = job.Cancel(ctx)
	})
	j.waitSnapshots(3)
	return j
}

func (j *countJob) info() dag.JobInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := j.job.Info(ctx)
	require.NoError(j.c.t, err)
	return info
}

// waitSnapshots waits for n more snapshots than the job has now.
func (j *countJob) waitSnapshots(n uint64) {
	j.c.t.Helper()
	from := j.info().Snapshots
	ok := pollUntil(time.Minute, func() bool { return j.info().Snapshots >= from+n })
	require.True(j.c.t, ok, "%d snapshots did not complete: %+v", n, j.info())
}

// waitRecovered waits until the job runs on exactly the live processes,
// restarted (from a snapshot) after before, and has completed snapshots
// since.
func (j *countJob) waitRecovered(before dag.JobInfo) dag.JobInfo {
	j.c.t.Helper()
	want := slices.Sorted(maps.Keys(j.c.procs))
	var info dag.JobInfo
	ok := pollUntil(time.Minute, func() bool {
		info = j.info()
		got := slices.Sorted(slices.Values(info.Members))
		return info.Status == dag.Running && info.Restarts > before.Restarts && slices.Equal(got, want)
	})
	require.True(j.c.t, ok, "the job did not restart on %v: %+v", want, info)
	require.Greater(j.c.t, info.RestoredFrom, uint64(0), "the job started over instead of restoring a snapshot")
	j.waitSnapshots(2)
	return j.info()
}

// finish stops the input and waits until the output matches it: equal,
// exactly once; at least once, no reading missing. It returns the repeats.
func (j *countJob) finish(exactlyOnce bool) int {
	j.c.t.Helper()
	want, err := j.feeder.Stop()
	require.NoError(j.c.t, err)
	var repeats int
	var diff error
	ok := pollUntil(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := testjobs.ReadOutput(ctx, j.c.obs, j.params.Counts, j.params.Dir)
		if err != nil {
			diff = err
			return false
		}
		repeats, diff = testjobs.Diff(want, got, exactlyOnce)
		return diff == nil
	})
	require.True(j.c.t, ok, "the output never matched the %d readings fed: %v", len(want.Lines), diff)
	j.c.t.Logf("%d readings fed (%d puts retried), output matched", len(want.Lines), j.feeder.Retries())
	return repeats
}
