package sinks

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Files writes one line per item into files in dir, formatted by format
// (a newline is added unless the line ends with one). Each member writes
// into its own dir, which must exist when the job starts: a missing one
// fails the job with an error naming it.
//
//	pipeline.WriteTo(trips, sinks.Files("/var/lib/fleet/trips", Trip.CSV))
//
// Exactly-once: in a job with a processing guarantee each instance writes
// into a hidden temporary file; on a snapshot's barrier it syncs and closes
// it (prepare) and records its name in the snapshot; once the snapshot
// completes in the whole cluster it renames it to its final name (commit),
// making its lines visible at once. After a failure the job restores the
// last complete snapshot, commits what it had prepared (renames are
// idempotent) and deletes the temporary files of the failed execution,
// whose items are then processed again. So every item appears in exactly one
// visible file, once. When the job completes, each instance commits what is
// left as its input ends. That leaves one narrow window: if a member is
// lost after another one committed so, but before the coordinator learned
// that it had finished, the job restarts from its last snapshot and the
// lines that member wrote after it appear twice. Without a guarantee, a
// file becomes visible when the job ends, however it ends.
//
// Final files are named part-<job>-<instance>-<execution>-<n>; temporary
// ones start with a dot and end in .tmp: readers of dir should skip those.
// Several jobs may write into one directory. The temporary files of a job
// cancelled between two snapshots stay behind (hidden).
func Files[T any](dir string, format func(T) string) pipeline.Sink[T] {
	return pipeline.NewSink("files", func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		if format == nil {
			return nil, fmt.Errorf("file sink %s: no format function", dir)
		}
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("file sink: directory %s on member %s: %w", dir, ctx.MemberName(), err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("file sink: %s on member %s is not a directory", dir, ctx.MemberName())
		}
		return &fileWriter[T]{ctx: ctx, dir: dir, format: format}, nil
	})
}

type fileWriter[T any] struct {
	ctx    *dag.Context
	dir    string
	format func(T) string
	f      *os.File
	w      *bufio.Writer
	name   string // the open temporary file's final name
	n      int
	// prepared maps snapshot ids to the files prepared for them, not yet
	// committed.
	prepared map[uint64][]pendingFile
	restored []pendingFile
}

// pendingFile is a prepared file: its temporary and final names.
type pendingFile struct {
	Temp  string `msgpack:"t"`
	Final string `msgpack:"f"`
}

func (w *fileWriter[T]) tempOf(final string) string {
	return filepath.Join(w.dir, "."+final+".tmp")
}

func (w *fileWriter[T]) open() error {
	w.n++
	w.name = fmt.Sprintf("part-%s-%d-%d-%d", w.ctx.JobID, w.ctx.GlobalIndex, w.ctx.Execution, w.n)
	f, err := os.OpenFile(w.tempOf(w.name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	w.f, w.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (w *fileWriter[T]) Write(items []T) error {
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	for _, it := range items {
		line := w.format(it)
		if _, err := w.w.WriteString(line); err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
		if !strings.HasSuffix(line, "\n") {
			if err := w.w.WriteByte('\n'); err != nil {
				return fmt.Errorf("file sink: %w", err)
			}
		}
	}
	return nil
}

// seal syncs and closes the open file, returning it as a pending file.
func (w *fileWriter[T]) seal() (*pendingFile, error) {
	if w.f == nil {
		return nil, nil
	}
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	p := &pendingFile{Temp: w.tempOf(w.name), Final: filepath.Join(w.dir, w.name)}
	w.f, w.w = nil, nil
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return p, nil
}

// Prepare seals the file written since the last barrier and records it;
// the next items go to a new file.
func (w *fileWriter[T]) Prepare(s *dag.SnapshotWriter) error {
	id := s.ID()
	p, err := w.seal()
	if err != nil {
		return err
	}
	if w.prepared == nil {
		w.prepared = map[uint64][]pendingFile{}
	}
	if p != nil {
		w.prepared[id] = append(w.prepared[id], *p)
	}
	// Everything prepared and not yet committed is saved: a restore commits
	// it once the snapshot is known complete.
	var all []pendingFile
	for _, ps := range w.prepared {
		all = append(all, ps...)
	}
	return dag.SaveBroadcast(s, fmt.Sprintf("files-%d", w.ctx.GlobalIndex), all)
}

// CommitSnapshot makes the files prepared up to snapshot id visible.
func (w *fileWriter[T]) CommitSnapshot(id uint64) error {
	for sid, ps := range w.prepared {
		if sid > id {
			continue
		}
		for _, p := range ps {
			if err := commitFile(p); err != nil {
				return err
			}
		}
		delete(w.prepared, sid)
	}
	return nil
}

// commitFile renames a prepared file; done again, it finds it done.
func commitFile(p pendingFile) error {
	err := os.Rename(p.Temp, p.Final)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(p.Final); serr == nil {
			return nil // committed before
		}
	}
	if err != nil {
		return fmt.Errorf("file sink: commit: %w", err)
	}
	return nil
}

func (w *fileWriter[T]) RestoreSnapshot(key, value []byte) error {
	_, ps, err := dag.LoadEntry[string, []pendingFile](key, value)
	if err != nil {
		return err
	}
	w.restored = append(w.restored, ps...)
	return nil
}

// FinishRestore commits what the restored snapshot prepared, and deletes
// the temporary files of earlier executions that no snapshot completed
// (their items are processed again). Instance 0 cleans up for all.
func (w *fileWriter[T]) FinishRestore() error {
	keep := map[string]bool{}
	for _, p := range w.restored {
		if err := commitFile(p); err != nil {
			return err
		}
		keep[p.Temp] = true
	}
	w.restored = nil
	if w.ctx.GlobalIndex != 0 {
		return nil
	}
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	prefix := ".part-" + w.ctx.JobID + "-"
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue // another job's
		}
		var inst, exec, n int
		if _, err := fmt.Sscanf(rest, "%d-%d-%d.tmp", &inst, &exec, &n); err != nil {
			continue
		}
		path := filepath.Join(w.dir, name)
		if exec < int(w.ctx.Execution) && !keep[path] {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file sink: abort: %w", err)
			}
		}
	}
	return nil
}

// Close ends the writer. Without a guarantee it commits the open file,
// however the job ended. With one, it commits what it prepared and the open
// file only if the execution ended normally (its context is not cancelled:
// every processor on this member finished, so the job is completing);
// otherwise the files stay hidden for the next restore to commit or delete.
// Without this, the items after a bounded job's last snapshot would never
// become visible.
//
// Committing here is safe because the coordinator fails, rather than
// restarts, a job that loses a member once it knows one member finished:
// nothing is written again. One narrow window remains (the engine takes no
// final snapshot at completion): if another member is lost after this one
// committed but before the coordinator learned that this one finished, the
// job restarts from its last snapshot and the lines this instance wrote
// after that snapshot appear twice.
func (w *fileWriter[T]) Close() error {
	p, err := w.seal()
	if err != nil {
		return err
	}
	if w.ctx.Guarantee != dag.None && w.ctx.Context().Err() != nil {
		return nil
	}
	for _, sid := range slices.Sorted(maps.Keys(w.prepared)) {
		for _, pf := range w.prepared[sid] {
			if err := commitFile(pf); err != nil {
				return err
			}
		}
		delete(w.prepared, sid)
	}
	if p != nil {
		return commitFile(*p)
	}
	return nil
}
