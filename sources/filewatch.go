package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// WatchLines is a streaming source of the lines written to the files in dir
// matching glob, tail -f style: lines appended to the files, and the lines
// of files that appear. With FromNow, the content the files hold when the
// job starts is skipped (reading starts after their last complete line);
// with FromOldest, it is read first. A line is emitted once its newline is
// written: an incomplete last line waits for the rest.
//
// The watcher polls: every PollInterval (default 100ms) it lists dir and
// compares sizes with what it has read. It needs no file-system
// notifications, so it works on network file systems too, and it starts no
// goroutine. A file that shrinks is taken as truncated and read again from
// its start, and so is a new file taking the name of one (log rotation by
// renaming); a file renamed to a name that still matches is read again as
// a new file, so make glob match only the live names. The
// files are shared among the instances as for Lines (see Shared).
//
// WatchLines is replayable: it saves the byte offset of every file it
// tracks, so a job with a processing guarantee resumes each where its last
// snapshot was, and reads the files that appeared since from their start.
//
//	lines := pipeline.ReadFrom(pl, sources.WatchLines("/var/log/fleet", "*.log", sources.FromNow),
//		pipeline.IngestionTime[string]())
func WatchLines(dir, glob string, start Start, opts ...FileOption) pipeline.Source[string] {
	return Watch(dir, glob, start, func(s string) (string, error) { return s, nil }, opts...)
}

// Watch is WatchLines with each line turned into an item by parse (such as
// DecodeJSON[T]); a line parse fails on is handled as for ParseLines (a
// blank line too: unlike JSONLines, Watch does not skip them).
//
//	src := sources.Watch(p.Dir, "*.jsonl", sources.FromOldest, sources.DecodeJSON[Reading], sources.Shared())
//	readings := pipeline.ReadFrom(pl, src, pipeline.EventTime(Reading.Time, 5*time.Second))
func Watch[T any](dir, glob string, start Start, parse func(line string) (T, error), opts ...FileOption) pipeline.Source[T] {
	c := fileOptions(opts)
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	return pipeline.NewSource("file-watcher", func(ctx *dag.Context) (pipeline.Reader[T], error) {
		s, err := newScope(ctx, dir, glob, c)
		if err != nil {
			return nil, err
		}
		r := &watchReader[T]{scope: s, format: lineFormat(parse, false), start: start, poll: c.poll, now: time.Now,
			files: map[string]*watchedFile{}, errs: newParseErrors(ctx, "file-watcher", c.failParse)}
		if err := r.scan(true); err != nil {
			return nil, err
		}
		return r, nil
	}, pipeline.Replayable())
}

// watchReader tracks the files of its share and reads what they gain.
type watchReader[T any] struct {
	scope    fileScope
	format   format[T]
	start    Start
	poll     time.Duration
	now      func() time.Time
	lastPoll time.Time
	files    map[string]*watchedFile
	pending  []string // files with bytes not yet read, in order
	dec      decoder[T]
	errs     *parseErrors
}

type watchedFile struct {
	pos  filePos
	info os.FileInfo // the file last listed under the name
	// tried is the size the file had when it was last queued: it is
	// queued again when it has another.
	tried   int64
	pending bool
}

func (r *watchReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	if now := r.now(); now.Sub(r.lastPoll) >= r.poll {
		r.lastPoll = now
		if err := r.scan(false); err != nil {
			return buf, false, err
		}
	}
	for tries := 0; tries < max && len(r.pending) > 0; tries++ {
		rel := r.pending[0]
		w := r.files[rel]
		if r.dec == nil {
			dec, err := r.format(r.scope.path(rel), rel, w.pos, false)
			if errors.Is(err, fs.ErrNotExist) {
				r.done(rel)
				continue
			}
			if err != nil {
				return buf, false, fmt.Errorf("open %s: %w", r.scope.path(rel), err)
			}
			r.dec = dec
		}
		v, ok, err := r.dec.next()
		w.pos = r.dec.pos()
		if err != nil {
			if pe := asParseError(err); pe != nil {
				if err := r.errs.handle(pe); err != nil {
					return buf, false, err
				}
				continue
			}
			return buf, false, fmt.Errorf("read %s: %w", r.scope.path(rel), err)
		}
		if !ok {
			if err := r.done(rel); err != nil {
				return buf, false, err
			}
			continue
		}
		buf = append(buf, pipeline.SourceItem[T]{V: v})
	}
	return buf, false, nil
}

// done closes the decoder of the first pending file and dequeues it.
func (r *watchReader[T]) done(rel string) error {
	if w := r.files[rel]; w != nil {
		w.pending = false
	}
	r.pending = r.pending[1:]
	if r.dec == nil {
		return nil
	}
	err := r.dec.close()
	r.dec = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", r.scope.path(rel), err)
	}
	return nil
}

// scan lists the directory: it tracks new files, queues those that grew,
// restarts those that shrank and forgets those that are gone.
func (r *watchReader[T]) scan(initial bool) error {
	if err := r.scope.check(); err != nil {
		return err
	}
	found, err := r.scope.list()
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(found))
	for _, f := range found {
		seen[f.rel] = true
		w, known := r.files[f.rel]
		if !known {
			w = &watchedFile{}
			if initial && r.start == FromNow {
				off, err := lastLineEnd(r.scope.path(f.rel), f.size)
				if err != nil {
					return err
				}
				w.pos = filePos{off: off, line: -1}
			}
			r.files[f.rel] = w
		}
		replaced := w.info != nil && !os.SameFile(w.info, f.info)
		w.info = f.info
		if f.size < w.pos.off || replaced {
			what := "file shrank"
			if replaced {
				what = "another file took the name"
			}
			r.errs.log.Warn(what+": reading it from its start", "source", r.errs.source, "file", r.scope.path(f.rel))
			if r.reading(f.rel) {
				if err := r.done(f.rel); err != nil {
					return err
				}
			}
			w.pos, w.tried = filePos{}, 0
		}
		if f.size > w.pos.off && f.size != w.tried && !w.pending {
			w.tried, w.pending = f.size, true
			r.pending = append(r.pending, f.rel)
		}
	}
	for rel := range r.files {
		if !seen[rel] {
			if err := r.forget(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// reading reports whether rel is the file being read.
func (r *watchReader[T]) reading(rel string) bool {
	return r.dec != nil && len(r.pending) > 0 && r.pending[0] == rel
}

// forget stops tracking a file that is gone.
func (r *watchReader[T]) forget(rel string) error {
	if r.reading(rel) {
		if err := r.done(rel); err != nil {
			return err
		}
	}
	for i, p := range r.pending {
		if p == rel {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			break
		}
	}
	delete(r.files, rel)
	return nil
}

// lastLineEnd returns the offset after the last newline before size: where
// a watcher starting from now begins, so that it never emits the tail of a
// line.
func lastLineEnd(path string, size int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && n < int(end-start) {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

func (r *watchReader[T]) Partitions() int { return 1 }

func (r *watchReader[T]) Close() error {
	if r.dec != nil {
		err := r.dec.close()
		r.dec = nil
		return err
	}
	return nil
}

// Positions saves the offset of every tracked file.
func (r *watchReader[T]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.files))
	for rel, w := range r.files {
		out[r.scope.key(rel)] = w.pos.encode()
	}
	return out, nil
}

// Seek resumes the tracked files from their saved offsets; those with none
// appeared after the snapshot and are read from their start.
func (r *watchReader[T]) Seek(positions map[string][]byte) error {
	if err := r.Close(); err != nil {
		return err
	}
	r.pending = r.pending[:0]
	for rel, w := range r.files {
		*w = watchedFile{info: w.info}
		if b, ok := positions[r.scope.key(rel)]; ok {
			p, err := decodeFilePos(b)
			if err != nil {
				return fmt.Errorf("file %s: %w", rel, err)
			}
			w.pos = p
		}
	}
	r.lastPoll = time.Time{}
	return nil
}
