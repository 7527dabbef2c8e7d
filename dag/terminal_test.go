package dag_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/snapshot"
	"github.com/weir-dev/weir/sources"
)

// The terminal snapshot job: a generator of sequence numbers, a running sum
// per key written to a map (an idempotent sink) and the multiples of 7
// written to files (a two-phase-commit sink). Every stage runs on every
// member, with distributed edges between them.
type terminalParams struct {
	Rate int64
	Sums string
	Dir  string
}

const terminalKeys = 50

func init() {
	dag.Register("test.terminal", func(p terminalParams) (*dag.DAG, error) {
		pl := pipeline.New()
		seqs := pipeline.ReadFrom(pl, sources.Generator(p.Rate, func(seq int64) int64 { return seq }), pipeline.NoTimestamps[int64]())
		sums := pipeline.RollingAggregate(pipeline.GroupBy(seqs, func(s int64) int64 { return s % terminalKeys }), pipeline.Sum(func(s int64) int64 { return s }))
		pipeline.WriteTo(sums, sinks.Map[int64, int64](p.Sums))
		sevens := pipeline.Filter(seqs, func(s int64) bool { return s%7 == 0 })
		pipeline.WriteTo(sevens, sinks.Files(p.Dir, func(s int64) string { return strconv.FormatInt(s, 10) }))
		return pl.Compile()
	})
}

// Suspend and CancelAndExportSnapshot take a terminal snapshot: past its
// barrier a source emits nothing more, so the sinks hold exactly the
// output of the input the snapshot covers. The test stops the job
// mid-stream, reads from the snapshot itself where each source partition
// stopped, and compares every sink with a plain computation over exactly
// that input. Before, suspending took an ordinary snapshot and stopped the
// job afterwards: the map held sums from past the snapshot, and the files
// of its commit could be missing.
func TestTerminalSnapshotIsTheSinksCut(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"suspend", "cancel-and-export"} {
		t.Run(how, func(t *testing.T) {
			c := clustertest.Start(t, 3, member.Config{})
			ms := c.Members()
			ctx := ctxT(t, 2*time.Minute)
			p := terminalParams{Rate: 40_000, Sums: "sums", Dir: t.TempDir()}
			job, err := dag.Submit(ctx, ms[0], "test.terminal", p,
				dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(50*time.Millisecond), dag.WithLocalParallelism(2))
			require.NoError(t, err)
			t.Cleanup(func() { _ = job.Cancel(context.Background()) })
			// Mid-stream: a few snapshots done, and output flowing.
			require.True(t, clustertest.PollUntil(time.Minute, func() bool {
				info, err := job.Info(ctx)
				return err == nil && info.Snapshots >= 3
			}), "no snapshots")

			name := t.Name()
			if how == "suspend" {
				require.NoError(t, job.Suspend(ctx))
				require.NoError(t, job.ExportSnapshot(ctx, name)) // the snapshot taken on suspending
			} else {
				require.NoError(t, job.CancelAndExportSnapshot(ctx, name))
				require.ErrorIs(t, job.Wait(ctx), dag.ErrCancelled)
			}
			covered := coveredInput(t, ctx, ms[1], name)
			require.NotEmpty(t, covered, "the job stopped mid-stream, not before it began")

			wantSums := map[int64]int64{}
			wantLines := map[int64]int{}
			for _, s := range covered {
				wantSums[s%terminalKeys] += s
				if s%7 == 0 {
					wantLines[s]++
				}
			}
			gotSums := map[int64]int64{}
			require.NoError(t, grid.GetMap[int64, int64](ms[2], p.Sums).Scan(ctx, func(k, v int64) bool {
				gotSums[k] = v
				return true
			}))
			require.Equal(t, wantSums, gotSums, "the map sink holds the sums of exactly the input the snapshot covers")
			require.Equal(t, wantLines, committedLines(t, p.Dir), "the committed files hold exactly the items the snapshot covers")
		})
	}
}

// coveredInput reads the generator's positions from the snapshot exported
// under name: the sequence numbers below each partition's saved position
// are the input the snapshot covers.
func coveredInput(t *testing.T, ctx context.Context, m *member.Member, name string) []int64 {
	t.Helper()
	store, c, err := snapshot.OpenNamed(ctx, m, name)
	require.NoError(t, err)
	vertex := ""
	for _, ref := range c.Manifest.Chunks {
		if strings.HasPrefix(ref.Vertex, "generator") {
			vertex = ref.Vertex
		}
	}
	require.NotEmpty(t, vertex, "the snapshot holds the generator's positions")
	next := map[int]int64{}
	require.NoError(t, store.Read(ctx, c, vertex, nil, func(k, v []byte) error {
		part, pos, err := dag.LoadEntry[string, []byte](k, v)
		if err != nil {
			return err
		}
		p, err := strconv.Atoi(part)
		if err != nil {
			return err
		}
		s, n := binary.Uvarint(pos)
		require.Positive(t, n)
		next[p] = int64(s)
		return nil
	}))
	parts := m.PartitionCount()
	require.Len(t, next, parts, "every partition's position is in the snapshot")
	var covered []int64
	for p, end := range next {
		for s := int64(p); s < end; s += int64(parts) {
			covered = append(covered, s)
		}
	}
	return covered
}

// committedLines counts the lines of the visible (committed) files in dir.
func committedLines(t *testing.T, dir string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // prepared, not committed
		}
		fh, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			s, err := strconv.ParseInt(sc.Text(), 10, 64)
			require.NoError(t, err)
			out[s]++
		}
		require.NoError(t, sc.Err())
		fh.Close()
	}
	return out
}
