package sources

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// testCtx is the context of one of count instances, logging into logs.
func testCtx(index, count int, logs *logBuffer) *dag.Context {
	ctx := &dag.Context{LocalIndex: index, LocalParallelism: count, GlobalIndex: index, TotalParallelism: count}
	if logs != nil {
		ctx.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return ctx
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readN reads up to n items in calls of at most max, stopping when done.
func readN[T any](t *testing.T, r pipeline.Reader[T], n, max int) (items []T, done bool) {
	t.Helper()
	var buf []pipeline.SourceItem[T]
	for len(items) < n && !done {
		var err error
		buf, done, err = r.Read(buf[:0], min(max, n-len(items)))
		require.NoError(t, err)
		for _, it := range buf {
			items = append(items, it.V)
		}
	}
	return items, done
}

func newTestFileReader[T any](t *testing.T, ctx *dag.Context, dir, glob string, f format[T], opts ...FileOption) *fileReader[T] {
	t.Helper()
	c := fileOptions(opts)
	s, err := newScope(ctx, dir, glob, c)
	require.NoError(t, err)
	r, err := newFileReader(ctx, "files", s, f, c)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func lines() format[string] {
	return lineFormat(func(s string) (string, error) { return s, nil }, false)
}

// TestFileReaderResumes stops a reader at every point of a set of files,
// saves its positions and resumes a new reader from them: together they
// read every line exactly once.
func TestFileReaderResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	for f := range 3 {
		var b strings.Builder
		for l := range 7 {
			line := fmt.Sprintf("f%d-l%d", f, l)
			want = append(want, line)
			b.WriteString(line + "\n")
		}
		b.WriteString(fmt.Sprintf("f%d-last", f)) // no newline
		want = append(want, fmt.Sprintf("f%d-last", f))
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.txt", f)), []byte(b.String()), 0o644))
	}
	for stop := 0; stop <= len(want); stop++ {
		first := newTestFileReader(t, testCtx(0, 1, nil), dir, "*.txt", lines())
		got, _ := readN[string](t, first, stop, 3)
		pos, err := first.Positions()
		require.NoError(t, err)
		second := newTestFileReader(t, testCtx(0, 1, nil), dir, "*.txt", lines())
		require.NoError(t, second.Seek(pos))
		rest, done := readN[string](t, second, len(want)+1, 4)
		require.True(t, done)
		require.Equal(t, want, append(got, rest...), "stopped after %d", stop)
	}
}

// TestFileReaderShares divides files among instances by name: each read
// once, whatever the order the instances list them in.
func TestFileReaderShares(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	for f := range 30 {
		want = append(want, fmt.Sprint(f))
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.txt", f)), []byte(fmt.Sprintln(f)), 0o644))
	}
	var got []string
	for i := range 4 {
		r := newTestFileReader(t, testCtx(i, 4, nil), dir, "*", lines())
		items, done := readN[string](t, r, 100, 10)
		require.True(t, done)
		require.NotEmpty(t, items, "instance %d read nothing of 30 files", i)
		got = append(got, items...)
	}
	require.ElementsMatch(t, want, got)
}

// TestCSVResumeKnowsLines resumes a CSV file in the middle: the header is
// read again, and a parse error after the resume names its true line.
func TestCSVResumeKnowsLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content := "a,b\n1,\"x\ny\"\n2,z\n3\n4,w\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.csv"), []byte(content), 0o644))
	parse := func(h, rec []string) (string, error) { return h[0] + "=" + rec[0] + "," + h[1] + "=" + rec[1], nil }
	f := csvFormat(parse, ',', false)

	first := newTestFileReader(t, testCtx(0, 1, nil), dir, "*.csv", f, FailOnParseError())
	got, _ := readN[string](t, first, 1, 1)
	require.Equal(t, []string{"a=1,b=x\ny"}, got)
	pos, err := first.Positions()
	require.NoError(t, err)

	second := newTestFileReader(t, testCtx(0, 1, nil), dir, "*.csv", f, FailOnParseError())
	require.NoError(t, second.Seek(pos))
	got, _ = readN[string](t, second, 1, 1)
	require.Equal(t, []string{"a=2,b=z"}, got)
	_, _, err = second.Read(nil, 10)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "d.csv:5", pe.Position())
}

// TestParseErrorsSkippedCountedLogged skips unparsable lines by default,
// counting each and logging the first few with their position.
func TestParseErrorsSkippedCountedLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 20 {
		if i%2 == 1 {
			b.WriteString("{broken\n")
		} else {
			fmt.Fprintf(&b, "{\"n\":%d}\n", i)
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.jsonl"), []byte(b.String()), 0o644))
	logs := &logBuffer{}
	ctx := testCtx(0, 1, logs)
	type doc struct{ N int }
	r := newTestFileReader(t, ctx, dir, "*.jsonl", lineFormat(DecodeJSON[doc], true))
	got, done := readN[doc](t, r, 100, 7)
	require.True(t, done)
	require.Len(t, got, 10)
	require.Equal(t, int64(10), ctx.Counter("parse-errors").Load())
	out := logs.String()
	for _, line := range []string{"x.jsonl:2", "x.jsonl:4", "x.jsonl:10"} {
		require.Contains(t, out, "at="+line)
	}
	require.NotContains(t, out, "x.jsonl:12", "only the first few are logged")
	require.Contains(t, out, "further records that cannot be parsed")
}

func TestFilePositionCodec(t *testing.T) {
	t.Parallel()
	for _, p := range []filePos{{}, {off: 1 << 40, line: 12345}, {off: 10, line: -1}} {
		got, err := decodeFilePos(p.encode())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	for _, bad := range [][]byte{nil, {0x80}, append(filePos{off: 1}.encode(), 0)} {
		_, err := decodeFilePos(bad)
		require.Error(t, err)
	}
}
