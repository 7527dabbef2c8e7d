package sources

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// decoder reads the records of one open file, from a position.
type decoder[T any] interface {
	// next returns the next record. ok is false at the end of what the
	// file holds now; err is a *ParseError for a record that could not be
	// parsed (reading can go on after it), or an I/O error.
	next() (v T, ok bool, err error)
	// pos is where the record after the last one returned starts.
	pos() filePos
	close() error
}

// format opens decoders of a file type. final says the file is complete:
// its last line counts even without a newline (a batch source); a watcher
// leaves an incomplete last line for later.
type format[T any] func(path, rel string, at filePos, final bool) (decoder[T], error)

// openAt opens path positioned at off.
func openAt(path string, off int64) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// lineFormat reads one record per line, decoded by parse; blank lines are
// skipped when skipBlank.
func lineFormat[T any](parse func(string) (T, error), skipBlank bool) format[T] {
	return func(path, rel string, at filePos, final bool) (decoder[T], error) {
		f, err := openAt(path, at.off)
		if err != nil {
			return nil, err
		}
		return &lineDecoder[T]{f: f, br: bufio.NewReaderSize(f, 64<<10), rel: rel, at: at, final: final, parse: parse, skipBlank: skipBlank}, nil
	}
}

type lineDecoder[T any] struct {
	f         *os.File
	br        *bufio.Reader
	rel       string
	at        filePos
	final     bool
	parse     func(string) (T, error)
	skipBlank bool
	long      []byte // a line longer than the buffer, assembled
}

func (d *lineDecoder[T]) next() (T, bool, error) {
	var zero T
	for {
		line, ok, err := d.readLine()
		if err != nil || !ok {
			return zero, false, err
		}
		start := d.at
		d.at.off += int64(len(line))
		if d.at.line >= 0 {
			d.at.line++
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if d.skipBlank && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		v, err := d.parse(string(line))
		if err != nil {
			return zero, false, &ParseError{File: d.rel, Line: d.at.line, Offset: start.off, Err: err}
		}
		return v, true, nil
	}
}

// readLine returns the next complete line with its newline, valid until the
// next call. An incomplete last line counts only when final; otherwise it
// stays unread (at does not move past it) and the decoder is spent.
func (d *lineDecoder[T]) readLine() ([]byte, bool, error) {
	d.long = d.long[:0]
	for {
		chunk, err := d.br.ReadSlice('\n')
		switch {
		case err == nil && len(d.long) == 0:
			return chunk, true, nil
		case err == nil:
			d.long = append(d.long, chunk...)
			return d.long, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			d.long = append(d.long, chunk...)
		case errors.Is(err, io.EOF):
			d.long = append(d.long, chunk...)
			if len(d.long) > 0 && d.final {
				return d.long, true, nil
			}
			return nil, false, nil
		default:
			return nil, false, err
		}
	}
}

func (d *lineDecoder[T]) pos() filePos { return d.at }
func (d *lineDecoder[T]) close() error { return d.f.Close() }

// DecodeJSON decodes a line of JSON into a T: the parse function of
// JSONLines, for Watch and ParseLines.
func DecodeJSON[T any](line string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(line), &v)
	return v, err
}

// csvFormat reads CSV records; unless noHeader, the first record of each
// file is its header, passed to parse with every record.
func csvFormat[T any](parse func(header, record []string) (T, error), comma rune, noHeader bool) format[T] {
	return func(path, rel string, at filePos, _ bool) (decoder[T], error) {
		d := &csvDecoder[T]{rel: rel, parse: parse, comma: comma}
		var err error
		if d.f, err = os.Open(path); err != nil {
			return nil, err
		}
		if err := d.start(at, noHeader); err != nil {
			d.f.Close()
			return nil, err
		}
		return d, nil
	}
}

type csvDecoder[T any] struct {
	f      *os.File
	r      *csv.Reader
	rel    string
	comma  rune
	header []string
	base   filePos // where r started
	at     filePos
	parse  func(header, record []string) (T, error)
}

func (d *csvDecoder[T]) reader(from io.Reader) *csv.Reader {
	r := csv.NewReader(bufio.NewReaderSize(from, 64<<10))
	r.Comma = d.comma
	r.FieldsPerRecord = -1
	return r
}

// start reads the header (from the file's start, even when resuming) and
// positions the reader at at.
func (d *csvDecoder[T]) start(at filePos, noHeader bool) error {
	d.base, d.at = at, at
	if !noHeader {
		hr := d.reader(io.NewSectionReader(d.f, 0, 1<<62))
		h, err := hr.Read()
		switch {
		case errors.Is(err, io.EOF): // an empty file
		case err != nil:
			return &ParseError{File: d.rel, Line: 1, Err: fmt.Errorf("header: %w", err)}
		default:
			d.header = h
		}
		if at.off == 0 && d.header != nil {
			l, _ := hr.FieldPos(len(h) - 1)
			d.base = filePos{off: hr.InputOffset(), line: int64(l) + int64(strings.Count(h[len(h)-1], "\n"))}
			d.at = d.base
		}
	}
	if _, err := d.f.Seek(d.base.off, io.SeekStart); err != nil {
		return err
	}
	d.r = d.reader(d.f)
	if d.header != nil {
		d.r.FieldsPerRecord = len(d.header)
	}
	return nil
}

func (d *csvDecoder[T]) next() (T, bool, error) {
	var zero T
	rec, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return zero, false, nil
	}
	start := d.at
	d.at.off = d.base.off + d.r.InputOffset()
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return zero, false, err
		}
		d.at.line = d.abs(int64(pe.Line))
		return zero, false, &ParseError{File: d.rel, Line: d.abs(int64(pe.StartLine)), Offset: start.off, Err: pe.Err}
	}
	first, _ := d.r.FieldPos(0)
	last, _ := d.r.FieldPos(len(rec) - 1)
	d.at.line = d.abs(int64(last) + int64(strings.Count(rec[len(rec)-1], "\n")))
	v, err := d.parse(d.header, rec)
	if err != nil {
		return zero, false, &ParseError{File: d.rel, Line: d.abs(int64(first)), Offset: start.off, Err: err}
	}
	return v, true, nil
}

// abs turns a line number of the reader into one of the file.
func (d *csvDecoder[T]) abs(line int64) int64 {
	if d.base.line < 0 {
		return 0
	}
	return d.base.line + line
}

func (d *csvDecoder[T]) pos() filePos { return d.at }
func (d *csvDecoder[T]) close() error { return d.f.Close() }
