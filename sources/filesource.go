package sources

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Lines is a bounded source of the lines of the files in dir whose path
// relative to dir matches glob (filepath.Match syntax; "*.log",
// "2024-*/part-*"), without their line endings. Hidden files are skipped.
// Each instance reads its share of the files (see Shared), one file at a
// time, each from start to end. The files are listed when the job starts;
// a missing directory or a bad pattern fails the job then.
//
// Lines is replayable: the position of every file is its byte offset, so a
// job with a processing guarantee restarted after a failure resumes each
// file where its last snapshot was.
//
//	lines := pipeline.ReadFrom(pl, sources.Lines(p.Dir, "*.txt"), pipeline.NoTimestamps[string]())
//	words := pipeline.FlatMap(lines, strings.Fields)
func Lines(dir, glob string, opts ...FileOption) pipeline.Source[string] {
	return ParseLines(dir, glob, func(s string) (string, error) { return s, nil }, opts...)
}

// ParseLines is Lines with each line turned into an item by parse. A line
// parse fails on is skipped and counted, or fails the job
// (FailOnParseError), and is named by file and line either way.
//
//	readings := sources.ParseLines(p.Dir, "*.txt", func(line string) (int, error) {
//		return strconv.Atoi(line)
//	})
func ParseLines[T any](dir, glob string, parse func(line string) (T, error), opts ...FileOption) pipeline.Source[T] {
	return fileSource("files", dir, glob, lineFormat(parse, false), opts)
}

// JSONLines reads files of one JSON document per line (JSON Lines, NDJSON),
// each decoded with encoding/json into a T. Blank lines are skipped; a line
// that does not decode is a parse error (see ParseLines).
//
//	type reading struct {
//		Vehicle string  `json:"vehicle"`
//		Kg      float64 `json:"kg"`
//	}
//	src := sources.JSONLines[reading](p.Dir, "*.jsonl", sources.FailOnParseError())
func JSONLines[T any](dir, glob string, opts ...FileOption) pipeline.Source[T] {
	return fileSource("json-files", dir, glob, lineFormat(DecodeJSON[T], true), opts)
}

// CSV reads CSV files (encoding/csv: quoted fields may span lines), turning
// each record into an item with parse, which receives the file's header
// (its first record) too, so it can find fields by name. A record with
// another number of fields than the header, or one parse rejects, is a
// parse error (see ParseLines). With NoHeader, every record is data and the
// header is nil. Delimiter sets another separator than the comma.
//
//	type trip struct {
//		Vehicle string
//		Km      float64
//	}
//	src := sources.CSV(p.Dir, "trips-*.csv", func(header, rec []string) (trip, error) {
//		km, err := strconv.ParseFloat(rec[1], 64)
//		return trip{Vehicle: rec[0], Km: km}, err
//	})
func CSV[T any](dir, glob string, parse func(header, record []string) (T, error), opts ...FileOption) pipeline.Source[T] {
	c := fileOptions(opts)
	return fileSource("csv-files", dir, glob, csvFormat(parse, c.comma, c.noHeader), opts)
}

// CSVRecords reads CSV files as their records, header excepted (see CSV).
//
//	records := pipeline.ReadFrom(pl, sources.CSVRecords(p.Dir, "*.tsv", sources.Delimiter('\t')), pipeline.NoTimestamps[[]string]())
func CSVRecords(dir, glob string, opts ...FileOption) pipeline.Source[[]string] {
	return CSV(dir, glob, func(_, rec []string) ([]string, error) { return rec, nil }, opts...)
}

func fileSource[T any](name, dir, glob string, f format[T], opts []FileOption) pipeline.Source[T] {
	c := fileOptions(opts)
	return pipeline.NewSource(name, func(ctx *dag.Context) (pipeline.Reader[T], error) {
		s, err := newScope(ctx, dir, glob, c)
		if err != nil {
			return nil, err
		}
		return newFileReader(ctx, name, s, f, c)
	}, pipeline.Replayable())
}

// fileReader reads its files one after the other.
type fileReader[T any] struct {
	scope  fileScope
	format format[T]
	files  []string           // relative paths, in reading order
	pos    map[string]filePos // where each file resumes; absent: its start
	cur    int                // index in files of the file being read
	dec    decoder[T]         // files[cur], open
	errs   *parseErrors
}

func newFileReader[T any](ctx *dag.Context, name string, s fileScope, f format[T], c fileConfig) (*fileReader[T], error) {
	found, err := s.list()
	if err != nil {
		return nil, err
	}
	r := &fileReader[T]{scope: s, format: f, pos: map[string]filePos{}, errs: newParseErrors(ctx, name, c.failParse)}
	for _, sf := range found {
		r.files = append(r.files, sf.rel)
	}
	return r, nil
}

func (r *fileReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	// Records skipped count too, so a run of bad ones does not hold the
	// engine for long.
	for tries := 0; tries < max; tries++ {
		if r.dec == nil {
			if r.cur == len(r.files) {
				return buf, true, nil
			}
			if err := r.open(); err != nil {
				return buf, false, err
			}
			continue
		}
		v, ok, err := r.dec.next()
		rel := r.files[r.cur]
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
			r.pos[rel] = r.dec.pos()
			err := r.dec.close()
			r.dec = nil
			r.cur++
			if err != nil {
				return buf, false, fmt.Errorf("close %s: %w", r.scope.path(rel), err)
			}
			continue
		}
		buf = append(buf, pipeline.SourceItem[T]{V: v})
	}
	return buf, false, nil
}

// open opens files[cur]; one that vanished since the listing is skipped, as
// is one whose header cannot be parsed (unless that fails the job).
func (r *fileReader[T]) open() error {
	rel := r.files[r.cur]
	dec, err := r.format(r.scope.path(rel), rel, r.pos[rel], true)
	switch {
	case err == nil:
		r.dec = dec
		return nil
	case errors.Is(err, fs.ErrNotExist):
		r.errs.log.Warn("file removed before it was read", "source", r.errs.source, "file", r.scope.path(rel))
	case asParseError(err) != nil:
		if err := r.errs.handle(asParseError(err)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("open %s: %w", r.scope.path(rel), err)
	}
	r.cur++
	return nil
}

func (r *fileReader[T]) Partitions() int { return 1 }

func (r *fileReader[T]) Close() error {
	if r.dec != nil {
		err := r.dec.close()
		r.dec = nil
		return err
	}
	return nil
}

// Positions saves the offset of every file read or being read; files not
// started have none (they start at the beginning).
func (r *fileReader[T]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.pos)+1)
	for rel, p := range r.pos {
		out[r.scope.key(rel)] = p.encode()
	}
	if r.dec != nil {
		out[r.scope.key(r.files[r.cur])] = r.dec.pos().encode()
	}
	return out, nil
}

// Seek resumes every file of this instance from its saved offset.
func (r *fileReader[T]) Seek(positions map[string][]byte) error {
	if err := r.Close(); err != nil {
		return err
	}
	r.cur = 0
	clear(r.pos)
	for _, rel := range r.files {
		b, ok := positions[r.scope.key(rel)]
		if !ok {
			continue
		}
		p, err := decodeFilePos(b)
		if err != nil {
			return fmt.Errorf("file %s: %w", rel, err)
		}
		r.pos[rel] = p
	}
	return nil
}
