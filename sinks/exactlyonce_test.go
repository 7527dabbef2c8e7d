package sinks_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/clustertest"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testjobs"
	"github.com/weir-dev/weir/member"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// feeder puts readings into the input map until stopped, counting them.
type feeder struct {
	mu    sync.Mutex
	want  map[string]int64
	lines map[string]bool
	seq   atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func feed(t *testing.T, m *member.Member, input string) *feeder {
	f := &feeder{want: map[string]int64{}, lines: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	mp := grid.GetMap[string, testjobs.Reading](m, input, grid.WithJournal(100_000))
	go func() {
		defer close(f.done)
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			n := f.seq.Add(1)
			r := testjobs.Reading{Vehicle: fmt.Sprintf("truck-%d", n%13), Seq: n}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := mp.Put(ctx, fmt.Sprintf("r-%d", n), r)
			cancel()
			if err != nil {
				t.Errorf("input write failed: %v", err)
				return
			}
			f.mu.Lock()
			f.want[r.Vehicle]++
			f.lines[fmt.Sprintf("%s %d", r.Vehicle, r.Seq)] = true
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *feeder) finish() (map[string]int64, map[string]bool) {
	close(f.stop)
	<-f.done
	return f.want, f.lines
}

// readLines reads every committed file of the sink's directory.
func readLines(t *testing.T, dir string) map[string]int {
	got := map[string]int{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // not committed
		}
		fh, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			got[sc.Text()]++
		}
		fh.Close()
	}
	return got
}

// TestExactlyOnceThroughAMemberCrash runs the counting job with exactly-once
// snapshots every 100 ms while a member crashes: the counts in the map and
// the lines in the committed files equal the input exactly.
func TestExactlyOnceThroughAMemberCrash(t *testing.T) {
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	dir := t.TempDir()
	ctx := ctxT(t, 120*time.Second)
	f := feed(t, ms[0], "readings")
	params := testjobs.CountParams{Input: "readings", Counts: "counts", Dir: dir}
	job, err := dag.Submit(ctx, ms[0], testjobs.Count, params,
		dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval), dag.WithScaleUpDelay(-1))
	require.NoError(t, err)

	waitSnapshots := func(n uint64) {
		require.Eventually(t, func() bool {
			info, err := job.Info(ctx)
			return err == nil && info.Snapshots >= n
		}, 60*time.Second, 10*time.Millisecond)
	}
	waitSnapshots(3)
	ms[2].Terminate() // a crash, not a leave
	require.Eventually(t, func() bool {
		info, err := job.Info(ctx)
		return err == nil && info.Restarts >= 1 && info.Status == dag.Running
	}, 60*time.Second, 10*time.Millisecond, "the job restarted on the survivors")
	info, err := job.Info(ctx)
	require.NoError(t, err)
	require.Greater(t, info.RestoredFrom, uint64(0), "restored from a snapshot, not started over")
	before := info.Snapshots
	waitSnapshots(before + 3)

	want, wantLines := f.finish()
	counts := grid.GetMap[string, int64](ms[0], "counts")
	var diff string
	ok := assert.Eventually(t, func() bool {
		got, err := counts.GetAll(ctx, keysOf(want))
		if err != nil {
			diff = err.Error()
			return false
		}
		diff = ""
		for k, v := range want {
			if got[k] != v {
				diff += fmt.Sprintf(" %s: got %d want %d;", k, got[k], v)
			}
		}
		return diff == ""
	}, 60*time.Second, 20*time.Millisecond)
	if !ok {
		history := journalHistory(t, ms[0], "readings")
		got := readLines(t, dir)
		var missing []string
		for line := range wantLines {
			if got[line] != 1 {
				var v string
				var n int64
				fmt.Sscanf(line, "%s %d", &v, &n)
				key := fmt.Sprintf("r-%d", n)
				kb, _ := keys.Encode(key)
				part := keys.Partition(kb, ms[0].PartitionCount())
				missing = append(missing, fmt.Sprintf("%s (x%d, partition %d events %v, journal %s)", line, got[line], part, history[key], history[fmt.Sprintf("#%d", part)]))
			}
		}
		t.Fatalf("counts never reached the input:%s\nlines not written exactly once: %v", diff, missing)
	}
	// Lines become visible when the snapshot after them completes.
	require.Eventually(t, func() bool { return len(readLines(t, dir)) == len(wantLines) }, 60*time.Second, 20*time.Millisecond)
	got := readLines(t, dir)
	for line := range wantLines {
		require.Equal(t, 1, got[line], "line %q", line)
	}
	require.Len(t, got, len(wantLines), "no line that was not written")
	// The counts never overshoot either.
	all, err := counts.GetAll(ctx, keysOf(want))
	require.NoError(t, err)
	require.Equal(t, want, all)
	require.NoError(t, job.Cancel(ctx))
}

func keysOf(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// journalHistory reads every partition's journal of a map, for diagnostics:
// key to its events.
func journalHistory(t *testing.T, m *member.Member, name string) map[string][]string {
	mp := grid.GetMap[string, testjobs.Reading](m, name)
	out := map[string][]string{}
	for p := range m.PartitionCount() {
		for from := uint64(0); ; {
			b, err := mp.ReadJournal(context.Background(), p, from, 1000)
			if err != nil {
				t.Logf("partition %d: %v", p, err)
				break
			}
			for _, e := range b.Events {
				out[e.Key] = append(out[e.Key], fmt.Sprintf("p%d/%d %s", p, e.Seq, e.Type))
			}
			if len(b.Events) == 0 {
				out[fmt.Sprintf("#%d", p)] = []string{fmt.Sprintf("oldest %d next %d", b.Oldest, b.Next)}
				break
			}
			from = b.Next
		}
	}
	return out
}
