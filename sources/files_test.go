package sources_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type fileParams struct {
	Dir, Glob              string
	Shared, Fail, NoHeader bool
	Bag                    string
}

func (p fileParams) options() []sources.FileOption {
	var opts []sources.FileOption
	if p.Shared {
		opts = append(opts, sources.Shared())
	}
	if p.Fail {
		opts = append(opts, sources.FailOnParseError())
	}
	if p.NoHeader {
		opts = append(opts, sources.NoHeader())
	}
	return opts
}

type reading struct {
	Vehicle string  `json:"vehicle"`
	Kg      float64 `json:"kg"`
}

type trip struct {
	Vehicle string
	Note    string
	Km      float64
}

func init() {
	dag.Register("sources.test.lines", func(p fileParams) (*dag.DAG, error) {
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.Lines(p.Dir, p.Glob, p.options()...), pipeline.NoTimestamps[string]())
		pipeline.WriteTo(lines, collect[string](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.json", func(p fileParams) (*dag.DAG, error) {
		pl := pipeline.New()
		rs := pipeline.ReadFrom(pl, sources.JSONLines[reading](p.Dir, p.Glob, p.options()...), pipeline.NoTimestamps[reading]())
		pipeline.WriteTo(rs, collect[reading](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.csv", func(p fileParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := sources.CSV(p.Dir, p.Glob, func(header, rec []string) (trip, error) {
			var t trip
			for i, h := range header {
				switch h {
				case "vehicle":
					t.Vehicle = rec[i]
				case "note":
					t.Note = rec[i]
				case "km":
					km, err := strconv.ParseFloat(rec[i], 64)
					if err != nil {
						return t, err
					}
					t.Km = km
				}
			}
			return t, nil
		}, p.options()...)
		pipeline.WriteTo(pipeline.ReadFrom(pl, src, pipeline.NoTimestamps[trip]()), collect[trip](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.csvrecords", func(p fileParams) (*dag.DAG, error) {
		pl := pipeline.New()
		recs := pipeline.ReadFrom(pl, sources.CSVRecords(p.Dir, p.Glob, p.options()...), pipeline.NoTimestamps[[]string]())
		pipeline.WriteTo(pipeline.Map(recs, func(r []string) string { return strings.Join(r, "|") }), collect[string](p.Bag))
		return pl.Compile()
	})
}

// writeFiles writes files (relative path -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

// TestLines reads the lines of the files matching a pattern: every line of
// every matching file, line endings removed and an unterminated last line
// included; hidden files, other names and subdirectories are not read.
// Shared, the files are divided among the members; not, each member reads
// them all (the test members share one machine).
func TestLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	files := map[string]string{
		".hidden.txt":  "hidden\n",
		"notes.log":    "not matched\n",
		"sub/deep.txt": "not matched either\n",
		"crlf.txt":     "windows 1\r\nwindows 2\r\n",
		"open.txt":     "first\n\nno newline at the end",
	}
	want = append(want, "windows 1", "windows 2", "first", "", "no newline at the end")
	for i := range 20 {
		var b strings.Builder
		for j := range 50 {
			line := fmt.Sprintf("file %d line %d", i, j)
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		files[fmt.Sprintf("part-%02d.txt", i)] = b.String()
	}
	writeFiles(t, dir, files)
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		n := len(c.Members())
		t.Run("shared", func(t *testing.T) {
			bag := newBag(t)
			require.NoError(t, run(t, c.Members()[0], "sources.test.lines", fileParams{Dir: dir, Glob: "*.txt", Shared: true, Bag: bag}))
			requireOnce(t, want, values[string](bag))
		})
		t.Run("per-member", func(t *testing.T) {
			bag := newBag(t)
			require.NoError(t, run(t, c.Members()[0], "sources.test.lines", fileParams{Dir: dir, Glob: "*.txt", Bag: bag}))
			perMember := map[string]map[string]int{}
			for _, l := range bagFor(bag).labelled() {
				if perMember[l.member] == nil {
					perMember[l.member] = map[string]int{}
				}
				perMember[l.member][l.v.(string)]++
			}
			require.Len(t, perMember, n, "every member reads its own files")
			for m := range perMember {
				var got []string
				for _, l := range bagFor(bag).labelled() {
					if l.member == m {
						got = append(got, l.v.(string))
					}
				}
				requireOnce(t, want, got)
			}
		})
	})
}

// TestLinesPatternWithDirectories matches files in subdirectories.
func TestLinesPatternWithDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"2024-01/part-1.csv": "a\n",
		"2024-02/part-1.csv": "b\n",
		"2024-02/other.csv":  "no\n",
		"2023-12/part-1.csv": "no\n",
	})
	c := clustertest.Start(t, 1, member.Config{})
	bag := newBag(t)
	require.NoError(t, run(t, c.Members()[0], "sources.test.lines", fileParams{Dir: dir, Glob: "2024-*/part-*", Bag: bag}))
	require.ElementsMatch(t, []string{"a", "b"}, values[string](bag))
}

// TestJSONLines decodes one document per line, skipping blank lines and
// (by default) lines that do not decode; FailOnParseError fails the job
// naming the file and line.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.jsonl": `{"vehicle":"truck-1","kg":10}` + "\n\n" + `{"vehicle":"truck-2","kg":20.5}` + "\n",
		"b.jsonl": `{"vehicle":"truck-3","kg":30}` + "\n" + `{"vehicle": oops}` + "\n" + `{"vehicle":"truck-4","kg":40}`,
	})
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.json", fileParams{Dir: dir, Glob: "*.jsonl", Shared: true, Bag: bag}))
		require.ElementsMatch(t, []reading{{"truck-1", 10}, {"truck-2", 20.5}, {"truck-3", 30}, {"truck-4", 40}}, values[reading](bag))

		err := run(t, c.Members()[0], "sources.test.json", fileParams{Dir: dir, Glob: "*.jsonl", Shared: true, Fail: true, Bag: newBag(t)})
		require.Error(t, err)
		require.Contains(t, err.Error(), "b.jsonl:2: cannot parse")
		require.Contains(t, err.Error(), "invalid character")
	})
}

// TestCSV parses records with their header, quoted fields spanning lines
// included; a record with the wrong number of fields, or one the parse
// function rejects, is skipped or fails the job at its line.
func TestCSV(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"trips-1.csv": "vehicle,note,km\n" +
			"truck-1,short,12.5\n" +
			"truck-2,\"two\nlines, and a comma\",7\n" +
			"truck-3,too,many,fields\n" +
			"truck-4,fine,3\n",
		"trips-2.csv": "km,vehicle\n" + // another column order
			"1,van-1\n" +
			"x,van-2\n" +
			"2,van-3\n",
		"empty.csv": "",
	})
	want := []trip{{"truck-1", "short", 12.5}, {"truck-2", "two\nlines, and a comma", 7}, {"truck-4", "fine", 3}, {Vehicle: "van-1", Km: 1}, {Vehicle: "van-3", Km: 2}}
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.csv", fileParams{Dir: dir, Glob: "*.csv", Shared: true, Bag: bag}))
		require.ElementsMatch(t, want, values[trip](bag))

		err := run(t, c.Members()[0], "sources.test.csv", fileParams{Dir: dir, Glob: "trips-1.csv", Shared: true, Fail: true, Bag: newBag(t)})
		require.ErrorContains(t, err, "trips-1.csv:5: cannot parse: wrong number of fields")
		err = run(t, c.Members()[0], "sources.test.csv", fileParams{Dir: dir, Glob: "trips-2.csv", Shared: true, Fail: true, Bag: newBag(t)})
		require.ErrorContains(t, err, `trips-2.csv:3: cannot parse: strconv.ParseFloat: parsing "x"`)
	})
}

// TestCSVRecords returns records as []string, without the header unless
// NoHeader says there is none.
func TestCSVRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.csv": "h1,h2\nx,y\n\"q,1\",z\n"})
	c := clustertest.Start(t, 1, member.Config{})
	bag := newBag(t)
	require.NoError(t, run(t, c.Members()[0], "sources.test.csvrecords", fileParams{Dir: dir, Glob: "*.csv", Bag: bag}))
	require.ElementsMatch(t, []string{"x|y", "q,1|z"}, values[string](bag))
	bag = newBag(t)
	require.NoError(t, run(t, c.Members()[0], "sources.test.csvrecords", fileParams{Dir: dir, Glob: "*.csv", NoHeader: true, Bag: bag}))
	require.ElementsMatch(t, []string{"h1|h2", "x|y", "q,1|z"}, values[string](bag))
}

// TestFileSourceBadConfiguration fails the job at its start with an error
// naming what is wrong.
func TestFileSourceBadConfiguration(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	missing := filepath.Join(t.TempDir(), "nope")
	err := run(t, m, "sources.test.lines", fileParams{Dir: missing, Glob: "*", Bag: newBag(t)})
	require.ErrorContains(t, err, "directory "+missing)
	require.ErrorContains(t, err, "no such file or directory")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err = run(t, m, "sources.test.lines", fileParams{Dir: file, Glob: "*", Bag: newBag(t)})
	require.ErrorContains(t, err, file+" is not a directory")

	err = run(t, m, "sources.test.lines", fileParams{Dir: t.TempDir(), Glob: "[", Bag: newBag(t)})
	require.ErrorContains(t, err, `file pattern "[": syntax error in pattern`)

	err = run(t, m, "sources.test.lines", fileParams{Dir: t.TempDir(), Glob: "", Bag: newBag(t)})
	require.ErrorContains(t, err, "empty file pattern")

	err = run(t, m, "sources.test.lines", fileParams{Dir: missing, Glob: "[", Bag: newBag(t)})
	require.ErrorContains(t, err, `file pattern "["`, "every problem at once")
	require.ErrorContains(t, err, "directory "+missing)
}
