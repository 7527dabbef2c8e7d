package sources_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type watchParams struct {
	Dir    string
	Start  sources.Start
	Shared bool
	Bag    string
	Counts string // counting job: the map of counts per line
}

func (p watchParams) options() []sources.FileOption {
	opts := []sources.FileOption{sources.PollInterval(5 * time.Millisecond)}
	if p.Shared {
		opts = append(opts, sources.Shared())
	}
	return opts
}

func init() {
	dag.Register("sources.test.watch", func(p watchParams) (*dag.DAG, error) {
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.WatchLines(p.Dir, "*.log", p.Start, p.options()...), pipeline.IngestionTime[string]())
		pipeline.WriteTo(lines, collect[string](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.watch.json", func(p watchParams) (*dag.DAG, error) {
		pl := pipeline.New()
		rs := pipeline.ReadFrom(pl, sources.Watch(p.Dir, "*.log", p.Start, sources.DecodeJSON[reading], p.options()...), pipeline.NoTimestamps[reading]())
		pipeline.WriteTo(rs, collect[reading](p.Bag))
		return pl.Compile()
	})
	// Counts every line it reads into a map: exactly once, each count is 1.
	dag.Register("sources.test.watch.count", func(p watchParams) (*dag.DAG, error) {
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.WatchLines(p.Dir, "*.log", p.Start, p.options()...), pipeline.NoTimestamps[string]())
		counts := pipeline.RollingAggregate(pipeline.GroupBy(lines, pipeline.Identity[string]), pipeline.Count[string]())
		pipeline.WriteTo(counts, sinksMap[string, int64](p.Counts))
		return pl.Compile()
	})
}

// TestWatchLines follows files being written on the cluster: what they
// held at the start (FromOldest), lines appended, new files, an incomplete
// line once complete; with Shared, each line once in the cluster.
func TestWatchLines(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		dir := t.TempDir()
		appendTo(t, filepath.Join(dir, "old.log"), "before the start\n")
		bag := newBag(t)
		j := submit(t, c.Members()[0], "sources.test.watch", watchParams{Dir: dir, Start: sources.FromOldest, Shared: true, Bag: bag})
		want := []string{"before the start"}
		for i := range 6 {
			for j := range 20 {
				line := fmt.Sprintf("file %d line %d", i, j)
				appendTo(t, filepath.Join(dir, fmt.Sprintf("f%d.log", i)), line+"\n")
				want = append(want, line)
			}
		}
		appendTo(t, filepath.Join(dir, "old.log"), "after the start\nunfinished")
		want = append(want, "after the start")
		require.Eventually(t, func() bool { return bagFor(bag).len() >= len(want) }, 20*time.Second, 5*time.Millisecond)
		appendTo(t, filepath.Join(dir, "old.log"), " line\n")
		want = append(want, "unfinished line")
		require.Eventually(t, func() bool { return bagFor(bag).len() >= len(want) }, 20*time.Second, 5*time.Millisecond)
		if restarted(j) {
			t.Log("the job restarted (from scratch: it has no processing guarantee): what it read is not checked")
			return
		}
		requireOnce(t, want, values[string](bag))
	})
}

// TestWatchCountsParseErrors counts lines that do not parse in the
// processor counter parse-errors, and goes on.
func TestWatchCountsParseErrors(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	dir := t.TempDir()
	bag := newBag(t)
	j := submit(t, c.Members()[0], "sources.test.watch.json", watchParams{Dir: dir, Start: sources.FromOldest, Bag: bag})
	appendTo(t, filepath.Join(dir, "r.log"), `{"vehicle":"a","kg":1}`+"\nnot json\n"+`{"vehicle":"b","kg":2}`+"\n{\n")
	require.Eventually(t, func() bool { return bagFor(bag).len() == 2 && counter(t, j, "parse-errors") == 2 }, 20*time.Second, 5*time.Millisecond)
	require.ElementsMatch(t, []reading{{"a", 1}, {"b", 2}}, values[reading](bag))
}

// TestWatchExactlyOnceThroughAMemberCrash writes lines into files while a
// three-member job counts them, exactly once, with snapshots every 100ms;
// a member crashes: after the job recovers, every line is counted once.
func TestWatchExactlyOnceThroughAMemberCrash(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	dir := t.TempDir()
	p := watchParams{Dir: dir, Start: sources.FromOldest, Shared: true, Counts: "watch-counts"}
	j := submit(t, ms[0], "sources.test.watch.count", p, dag.WithGuarantee(dag.ExactlyOnce),
		dag.WithSnapshotInterval(100*time.Millisecond), dag.WithScaleUpDelay(-1))

	// A line every 3 ms: each is a key of its own in the job's state, which
	// every snapshot holds in full, and under the race detector a faster
	// writer outgrew what the job could snapshot every 100 ms.
	w := startLineWriter(t, dir, 8, 3*time.Millisecond)
	waitSnapshots(t, j, 3)
	before := info(t, j)
	ms[2].Terminate()
	waitRestored(t, j, before)
	waitSnapshots(t, j, 2)
	want := w.stop()
	require.Greater(t, len(want), 100)

	counts := grid.GetMap[string, int64](ms[0], p.Counts)
	var problems []string
	ok := assert.Eventually(t, func() bool {
		got, err := counts.GetAll(ctxT(t, 10*time.Second), want)
		if err != nil {
			problems = []string{err.Error()}
			return false
		}
		problems = problems[:0]
		for _, l := range want {
			if got[l] != 1 {
				problems = append(problems, fmt.Sprintf("%q counted %d times", l, got[l]))
			}
		}
		return len(problems) == 0
	}, time.Minute, 20*time.Millisecond)
	if !ok {
		t.Fatalf("%d problems, e.g. %v; job %+v", len(problems), problems[:min(10, len(problems))], info(t, j))
	}
	t.Logf("%d lines written, each counted once; job %+v", len(want), info(t, j))
}

// lineWriter appends numbered lines to files, round robin, one at each tick
// of its interval, until stopped.
type lineWriter struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	lines  []string
}

func startLineWriter(t *testing.T, dir string, files int, every time.Duration) *lineWriter {
	w := &lineWriter{stopCh: make(chan struct{})}
	fs := make([]*os.File, files)
	for i := range fs {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("w%d.log", i)))
		require.NoError(t, err)
		fs[i] = f
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-w.stopCh:
				for _, f := range fs {
					f.Close()
				}
				return
			case <-tick.C:
			}
			line := fmt.Sprintf("line %d", n)
			if _, err := fs[n%files].WriteString(line + "\n"); err != nil {
				panic(err)
			}
			w.lines = append(w.lines, line)
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop stops writing and returns the lines written.
func (w *lineWriter) stop() []string {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	w.wg.Wait()
	return w.lines
}

func info(t *testing.T, j *dag.Job) dag.JobInfo {
	t.Helper()
	i, err := j.Info(ctxT(t, 10*time.Second))
	require.NoError(t, err)
	return i
}

// waitSnapshots waits for n more snapshots of the job.
func waitSnapshots(t *testing.T, j *dag.Job, n uint64) {
	t.Helper()
	from := info(t, j).Snapshots
	require.Eventually(t, func() bool { return info(t, j).Snapshots >= from+n }, time.Minute, 10*time.Millisecond)
}

// waitRestored waits until the job runs again, restored from a snapshot
// after before.
func waitRestored(t *testing.T, j *dag.Job, before dag.JobInfo) {
	t.Helper()
	require.Eventually(t, func() bool {
		i := info(t, j)
		return i.Status == dag.Running && i.Restarts > before.Restarts && i.RestoredFrom > 0
	}, time.Minute, 10*time.Millisecond)
}
