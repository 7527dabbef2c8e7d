package sinks_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type filesParams struct {
	Src Src
	Dir string
}

func init() {
	dag.Register("sinks_test.files", func(p filesParams) (*dag.DAG, error) {
		pl := pipeline.New()
		pipeline.WriteTo(p.Src.read(pl), sinks.Files(p.Dir, strconv.Itoa))
		return pl.Compile()
	})
}

// readFiles reads the items in the committed files of dir, and counts the
// hidden (temporary) ones.
func readFiles(t *testing.T, dir string) (items []int, hidden int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			hidden++
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			v, err := strconv.Atoi(sc.Text())
			require.NoError(t, err)
			items = append(items, v)
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
	}
	return items, hidden
}

// TestFilesCompletedJob: when a job completes, every item is in a visible
// file once, with or without a processing guarantee (with one, the items
// after the last snapshot are committed as the job completes).
func TestFilesCompletedJob(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		for _, g := range []dag.Guarantee{dag.None, dag.AtLeastOnce, dag.ExactlyOnce} {
			dir := t.TempDir()
			require.NoError(t, run(t, c.Members()[0], "sinks_test.files", filesParams{Src: Src{N: 3000}, Dir: dir},
				dag.WithGuarantee(g), dag.WithSnapshotInterval(10*time.Millisecond)))
			items, hidden := readFiles(t, dir)
			require.Equal(t, ints(3000), sorted(items), "guarantee %s", g)
			require.Zero(t, hidden, "guarantee %s: temporary files left", g)
		}
	})
}

// TestFilesExactlyOnceThroughRestart: lines written after the snapshot a
// job restarts from are deleted with their temporary files and written
// again: each appears once.
func TestFilesExactlyOnceThroughRestart(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		const n = 4000
		dir := t.TempDir()
		gateName, g := newGate(t, 0)
		j := submit(t, c.Members()[0], "sinks_test.files", filesParams{Src: Src{N: n, Gate: gateName}, Dir: dir}, exactlyOnce...)
		restartMidway(t, j, g, n)
		items, hidden := readFiles(t, dir)
		require.Equal(t, ints(n), sorted(items))
		require.Zero(t, hidden)
	})
}

func TestFilesBadDirectory(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		missing := filepath.Join(t.TempDir(), "missing")
		err := run(t, c.Members()[0], "sinks_test.files", filesParams{Src: Src{N: 10}, Dir: missing})
		require.ErrorContains(t, err, "file sink: directory "+missing)
		require.ErrorContains(t, err, "no such file or directory")

		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o644))
		err = run(t, c.Members()[0], "sinks_test.files", filesParams{Src: Src{N: 10}, Dir: file})
		require.ErrorContains(t, err, file+" on member")
		require.ErrorContains(t, err, "is not a directory")
	})
}
