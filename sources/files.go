package sources

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/weir-dev/weir/dag"
)

// FileOption configures the file sources (Lines, ParseLines, JSONLines, CSV,
// CSVRecords, WatchLines, Watch). An option a source has no use for is
// ignored.
type FileOption func(*fileConfig)

type fileConfig struct {
	shared    bool
	failParse bool
	noHeader  bool
	comma     rune
	poll      time.Duration
}

// Shared declares that every member sees the same directory (a network or
// cluster file system): the matching files are divided among all the
// source's instances in the cluster, each file read by one of them. Without
// it, every member reads the matching files of its own machine, divided
// among its local instances, as Jet does for a non-shared file system; in a
// test cluster whose members share one machine, every member then reads
// every file. The positions such a source saves are those of each
// member's files, kept under the member's name: give members stable names
// (member.Config.Name), so that one restarted on the same machine resumes
// its files rather than read them again.
func Shared() FileOption { return func(c *fileConfig) { c.shared = true } }

// FailOnParseError makes a record that cannot be parsed fail the job, with
// an error naming the file and line (a *ParseError). By default such records
// are skipped: counted in the processor counter "parse-errors" (see
// dag.ProcessorMetrics), and the first few logged with their position.
func FailOnParseError() FileOption { return func(c *fileConfig) { c.failParse = true } }

// NoHeader declares that CSV files have no header line: every line is a
// record, and the parse function receives a nil header.
func NoHeader() FileOption { return func(c *fileConfig) { c.noHeader = true } }

// Delimiter sets the CSV field delimiter (default ',').
func Delimiter(r rune) FileOption { return func(c *fileConfig) { c.comma = r } }

// PollInterval sets how often a file watcher lists its directory and looks
// for appended data (default 100ms).
func PollInterval(d time.Duration) FileOption { return func(c *fileConfig) { c.poll = d } }

// DefaultPollInterval is how often a file watcher looks for new data unless
// PollInterval says otherwise.
const DefaultPollInterval = 100 * time.Millisecond

func fileOptions(opts []FileOption) fileConfig {
	c := fileConfig{comma: ',', poll: DefaultPollInterval}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ParseError is a record of a file that its source could not parse.
type ParseError struct {
	File   string // path relative to the source's directory
	Line   int64  // line number, from 1; 0 when unknown (a watcher that started at the end of a file)
	Offset int64  // byte offset of the record in the file
	Err    error
}

// Position is where the record is, as file:line, or file@offset when the
// line number is unknown.
func (e *ParseError) Position() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s@%d", e.File, e.Offset)
}

func (e *ParseError) Error() string { return e.Position() + ": cannot parse: " + e.Err.Error() }

func (e *ParseError) Unwrap() error { return e.Err }

// filePos is where reading a file resumes: the byte offset of the next
// record, and the number of lines before it (-1: unknown).
type filePos struct {
	off, line int64
}

func (p filePos) encode() []byte {
	return binary.AppendVarint(binary.AppendVarint(nil, p.off), p.line)
}

func decodeFilePos(b []byte) (filePos, error) {
	off, n := binary.Varint(b)
	if n <= 0 {
		return filePos{}, errors.New("bad file position")
	}
	line, m := binary.Varint(b[n:])
	if m <= 0 || n+m != len(b) || off < 0 {
		return filePos{}, errors.New("bad file position")
	}
	return filePos{off: off, line: line}, nil
}

// fileScope is the share of a directory's files one instance reads.
type fileScope struct {
	dir, glob string
	shared    bool
	member    string // the member's name: position keys of a non-shared source
	// index among count: the instances sharing the files (the cluster's,
	// shared; the member's, not).
	index, count int
}

func newScope(ctx *dag.Context, dir, glob string, c fileConfig) (fileScope, error) {
	s := fileScope{dir: dir, glob: glob, shared: c.shared, index: ctx.LocalIndex, count: ctx.LocalParallelism}
	if c.shared {
		s.index, s.count = ctx.GlobalIndex, ctx.TotalParallelism
	}
	s.count = max(s.count, 1)
	s.member = ctx.MemberName()
	if err := s.check(); err != nil {
		return s, err
	}
	return s, nil
}

// check reports a directory that is missing or not one, and a bad
// pattern, all at once.
func (s fileScope) check() error {
	var errs []error
	if s.glob == "" {
		errs = append(errs, errors.New("empty file pattern (use \"*\" for every file)"))
	} else if _, err := filepath.Match(s.glob, ""); err != nil {
		errs = append(errs, fmt.Errorf("file pattern %q: %w", s.glob, err))
	}
	if st, err := os.Stat(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("directory %s: %w", s.dir, err))
	} else if !st.IsDir() {
		errs = append(errs, fmt.Errorf("%s is not a directory", s.dir))
	}
	return errors.Join(errs...)
}

// mine reports whether this instance reads the file: decided by a hash of
// its name, so a file appearing later is read by exactly one instance
// whatever the others have listed.
func (s fileScope) mine(rel string) bool {
	return s.count <= 1 || xxhash.Sum64String(rel)%uint64(s.count) == uint64(s.index)
}

// scannedFile is a file found by list, with its size then.
type scannedFile struct {
	rel  string
	size int64
	info os.FileInfo // identifies the file (os.SameFile)
}

// list returns this instance's regular files matching the pattern, by name.
// Hidden files (a name starting with a dot, such as the temporary files of
// sinks.Files) are skipped.
func (s fileScope) list() ([]scannedFile, error) {
	matches, err := filepath.Glob(filepath.Join(s.dir, s.glob))
	if err != nil {
		return nil, fmt.Errorf("file pattern %q: %w", s.glob, err)
	}
	var out []scannedFile
	for _, path := range matches {
		if strings.HasPrefix(filepath.Base(path), ".") {
			continue
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil || !s.mine(rel) {
			continue
		}
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue // gone since the listing, or a directory
		}
		out = append(out, scannedFile{rel: rel, size: st.Size(), info: st})
	}
	slices.SortFunc(out, func(a, b scannedFile) int { return strings.Compare(a.rel, b.rel) })
	return out, nil
}

func (s fileScope) path(rel string) string { return filepath.Join(s.dir, rel) }

// key names a file's position in snapshots: its path in the directory, and
// for a non-shared source the member whose machine holds it, so that after
// a restart each member resumes its own files.
func (s fileScope) key(rel string) string {
	if s.shared {
		return rel
	}
	return s.member + "\x00" + rel
}

// parseErrors applies a source's policy for unparsable records.
type parseErrors struct {
	source  string
	fail    bool
	counter *atomic.Int64
	log     *slog.Logger
	logged  int
}

// loggedParseErrors is how many unparsable records a reader logs; the rest
// are only counted.
const loggedParseErrors = 5

func newParseErrors(ctx *dag.Context, source string, fail bool) *parseErrors {
	log := ctx.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &parseErrors{source: source, fail: fail, counter: ctx.Counter("parse-errors"), log: log}
}

// handle counts pe, and returns it if the job must fail.
func (p *parseErrors) handle(pe *ParseError) error {
	p.counter.Add(1)
	if p.fail {
		return pe
	}
	if p.logged < loggedParseErrors {
		p.logged++
		p.log.Warn("skipping a record that cannot be parsed", "source", p.source, "at", pe.Position(), "err", pe.Err)
		if p.logged == loggedParseErrors {
			p.log.Warn("further records that cannot be parsed are skipped without a log line; counter parse-errors counts them all", "source", p.source)
		}
	}
	return nil
}

// asParseError returns err as a *ParseError, or nil if it is another error.
func asParseError(err error) *ParseError {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}
