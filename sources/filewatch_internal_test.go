package sources

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testWatcher is a watcher on dir whose clock the test moves.
type testWatcher struct {
	t     *testing.T
	r     *watchReader[string]
	clock time.Time
}

func newTestWatcher(t *testing.T, dir string, start Start, opts ...FileOption) *testWatcher {
	t.Helper()
	c := fileOptions(opts)
	s, err := newScope(testCtx(0, 1, nil), dir, "*.log", c)
	require.NoError(t, err)
	w := &testWatcher{t: t, clock: time.Unix(1000, 0)}
	w.r = &watchReader[string]{scope: s, format: lines(), start: start, poll: c.poll, files: map[string]*watchedFile{},
		errs: newParseErrors(testCtx(0, 1, nil), "file-watcher", false), now: func() time.Time { return w.clock }}
	require.NoError(t, w.r.scan(true))
	w.r.lastPoll = w.clock
	t.Cleanup(func() { w.r.Close() })
	return w
}

// poll lets a poll interval pass and reads everything there is.
func (w *testWatcher) poll() []string {
	w.t.Helper()
	w.clock = w.clock.Add(time.Hour)
	var out []string
	for range 100 {
		buf, done, err := w.r.Read(nil, 3)
		require.NoError(w.t, err)
		require.False(w.t, done, "a watcher never ends")
		if len(buf) == 0 {
			return out
		}
		for _, it := range buf {
			out = append(out, it.V)
		}
	}
	w.t.Fatal("the watcher keeps reading")
	return nil
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestWatcherTails emits appended lines once complete, and the lines of new
// files, from the start of existing files with FromOldest.
func TestWatcherTails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "one\ntw")
	w := newTestWatcher(t, dir, FromOldest)
	require.Equal(t, []string{"one"}, w.poll())
	require.Empty(t, w.poll(), "an incomplete line waits")
	appendTo(t, a, "o\nthr")
	require.Equal(t, []string{"two"}, w.poll())
	appendTo(t, a, "ee\r\n")
	appendTo(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
	appendTo(t, filepath.Join(dir, "ignored.txt"), "no\n")
	require.ElementsMatch(t, []string{"three", "b1", "b2"}, w.poll())
	require.Empty(t, w.poll())
	require.Empty(t, w.r.pending, "files read to their end are not queued again")
}

// TestWatcherFromNow skips what the files hold at the start, but not the
// end of a line being written then.
func TestWatcherFromNow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "old 1\nold 2\nbeing writ")
	w := newTestWatcher(t, dir, FromNow)
	require.Empty(t, w.poll())
	appendTo(t, a, "ten\nnew\n")
	require.Equal(t, []string{"being written", "new"}, w.poll())
}

// TestWatcherTruncatedAndRemovedFiles reads a file that shrank again from
// its start, and forgets a file that was removed.
func TestWatcherTruncatedAndRemovedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendTo(t, a, "a long first line\n")
	appendTo(t, b, "b\n")
	w := newTestWatcher(t, dir, FromOldest)
	require.ElementsMatch(t, []string{"a long first line", "b"}, w.poll())
	require.NoError(t, os.WriteFile(a, []byte("short\n"), 0o644))
	require.NoError(t, os.Remove(b))
	require.Equal(t, []string{"short"}, w.poll())
	pos, err := w.r.Positions()
	require.NoError(t, err)
	require.Len(t, pos, 1, "b.log is forgotten")
	appendTo(t, b, "b again\n")
	require.Equal(t, []string{"b again"}, w.poll(), "a new file of an old name is read from its start")
}

// TestWatcherResumes saves positions, then a new watcher resumes from them:
// it reads what was appended since, and files that appeared since whole.
func TestWatcherResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "1\n2\n")
	w := newTestWatcher(t, dir, FromNow)
	appendTo(t, a, "3\n4")
	require.Equal(t, []string{"3"}, w.poll())
	pos, err := w.r.Positions()
	require.NoError(t, err)

	appendTo(t, a, "\n5\n")
	appendTo(t, filepath.Join(dir, "b.log"), "b\n")
	again := newTestWatcher(t, dir, FromNow) // FromNow: the saved positions say otherwise
	require.NoError(t, again.r.Seek(pos))
	require.ElementsMatch(t, []string{"4", "5", "b"}, again.poll())
}

// TestWatcherMissingDirectory fails at the start, and when the directory
// goes away later.
func TestWatcherMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	_, err := newScope(testCtx(0, 1, nil), dir, "*.log", fileOptions(nil))
	require.ErrorContains(t, err, "directory "+dir)
	require.NoError(t, os.Mkdir(dir, 0o755))
	w := newTestWatcher(t, dir, FromOldest)
	require.NoError(t, os.Remove(dir))
	w.clock = w.clock.Add(time.Hour)
	_, _, err = w.r.Read(nil, 10)
	require.ErrorContains(t, err, "directory "+dir)
}

// TestWatcherRotatedFile reads a new file that took the name of one being
// watched from its start, even when it is already longer than the old one
// was (its size alone would not tell).
func TestWatcherRotatedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "old 1\nold 2\n")
	w := newTestWatcher(t, dir, FromOldest)
	require.Equal(t, []string{"old 1", "old 2"}, w.poll())
	require.NoError(t, os.Rename(a, filepath.Join(dir, "a.log.1")))
	appendTo(t, a, "new 1\nnew 2\nnew 3, longer than the old file\n")
	require.Equal(t, []string{"new 1", "new 2", "new 3, longer than the old file"}, w.poll())
	require.Empty(t, w.poll())
}
