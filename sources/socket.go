package sources

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/pipeline"
)

// SocketOption configures Socket.
type SocketOption func(*socketConfig)

type socketConfig struct {
	dialTimeout time.Duration
	maxLine     int
}

// DialTimeout bounds the connection attempt (default 5s).
func DialTimeout(d time.Duration) SocketOption { return func(c *socketConfig) { c.dialTimeout = d } }

// MaxLineLength sets the longest line accepted, in bytes, line ending
// excluded (default 1 MiB): a longer one fails the job rather than grow a
// buffer without bound.
func MaxLineLength(n int) SocketOption { return func(c *socketConfig) { c.maxLine = n } }

// DefaultMaxLineLength is the longest line Socket accepts unless
// MaxLineLength says otherwise.
const DefaultMaxLineLength = 1 << 20

// Socket is a source of the lines a TCP server sends (without their line
// endings, "\n" or "\r\n"), like Jet's socket source: one instance in the
// whole cluster connects to addr ("host:port") when the job starts, and the
// other instances read nothing. The source ends when the server closes the
// connection (an incomplete last line counts).
//
// A server that cannot be reached fails the job at its start, with an error
// naming addr; a connection broken while reading, or a line longer than
// MaxLineLength, fails it when it happens, after the lines received before.
//
// A socket cannot be read again: the source is not replayable, and a job
// with a processing guarantee cannot read it (its submission fails with
// dag.ErrNotReplayable). The connection is read on a goroutine of its own,
// which the job's end closes and joins.
//
//	lines := pipeline.ReadFrom(pl, sources.Socket("127.0.0.1:9999"), pipeline.IngestionTime[string]())
func Socket(addr string, opts ...SocketOption) pipeline.Source[string] {
	c := socketConfig{dialTimeout: 5 * time.Second, maxLine: DefaultMaxLineLength}
	for _, o := range opts {
		o(&c)
	}
	return pipeline.NewSource("socket", func(ctx *dag.Context) (pipeline.Reader[string], error) {
		if err := c.validate(addr); err != nil {
			return nil, err
		}
		d := net.Dialer{Timeout: c.dialTimeout}
		conn, err := d.DialContext(ctx.Context(), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		return startSocketReader(conn, addr, c.maxLine, ctx.Wake), nil
	}, pipeline.Singleton())
}

// validate reports every problem of the configuration at once.
func (c socketConfig) validate(addr string) error {
	var errs []error
	if _, _, err := net.SplitHostPort(addr); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", addr, err))
	}
	if c.dialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("DialTimeout(%s): it must be positive", c.dialTimeout))
	}
	if c.maxLine <= 0 {
		errs = append(errs, fmt.Errorf("MaxLineLength(%d): it must be positive", c.maxLine))
	}
	return errors.Join(errs...)
}

// socketReader reads the connection on a goroutine of its own, which hands
// over lines in batches; Read never waits.
type socketReader struct {
	addr    string
	conn    net.Conn
	batches chan lineBatch // closed when the reading goroutine ends
	group   *run.Group
	pending []string
	err     error // ended reading, reported once pending is emitted
}

// lineBatch is lines read together, then the error that ended reading, if
// any.
type lineBatch struct {
	lines []string
	err   error
}

// socketBatch bounds the lines in one batch.
const socketBatch = 512

func startSocketReader(conn net.Conn, addr string, maxLine int, wake func()) *socketReader {
	r := &socketReader{addr: addr, conn: conn, batches: make(chan lineBatch, 4), group: run.NewGroup(context.Background())}
	r.group.Go(func(ctx context.Context) {
		defer close(r.batches)
		r.run(ctx, maxLine, wake)
	})
	return r
}

// run reads lines until the connection ends, sending a batch whenever
// nothing more is buffered or the batch is full.
func (r *socketReader) run(ctx context.Context, maxLine int, wake func()) {
	br := bufio.NewReaderSize(r.conn, 64<<10)
	var batch []string
	var line []byte
	send := func(b lineBatch) bool {
		select {
		case r.batches <- b:
			wake()
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		// Without its ending (a partial line's last "\r" may be the start
		// of one), so the buffer stays within maxLine and a chunk.
		if len(trimEOL(line)) > maxLine {
			send(lineBatch{lines: batch, err: fmt.Errorf("a line longer than %d bytes (MaxLineLength)", maxLine)})
			return
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil || errors.Is(err, io.EOF) && len(line) > 0 {
			batch = append(batch, string(trimEOL(line)))
			line = line[:0]
		}
		if err != nil {
			if ctx.Err() != nil {
				return // closed by Close: not an error
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			send(lineBatch{lines: batch, err: err})
			return
		}
		if len(batch) >= socketBatch || br.Buffered() == 0 {
			if !send(lineBatch{lines: batch}) {
				return
			}
			batch = nil
		}
	}
}

func trimEOL(line []byte) []byte {
	return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
}

func (r *socketReader) Read(buf []pipeline.SourceItem[string], max int) ([]pipeline.SourceItem[string], bool, error) {
	for len(buf) < max {
		if len(r.pending) == 0 {
			if r.err != nil {
				return buf, false, fmt.Errorf("read from %s: %w", r.addr, r.err)
			}
			select {
			case b, ok := <-r.batches:
				if !ok {
					return buf, true, nil
				}
				r.pending, r.err = b.lines, b.err
				continue
			default:
				return buf, false, nil
			}
		}
		n := min(len(r.pending), max-len(buf))
		for _, l := range r.pending[:n] {
			buf = append(buf, pipeline.SourceItem[string]{V: l})
		}
		r.pending = r.pending[n:]
	}
	return buf, false, nil
}

func (r *socketReader) Partitions() int { return 1 }

// Close closes the connection and joins the reading goroutine. It is
// idempotent.
func (r *socketReader) Close() error {
	r.group.Cancel()
	err := r.conn.Close()
	r.group.Stop()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
