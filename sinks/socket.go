package sinks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

const (
	// socketDialTimeout bounds each connection attempt.
	socketDialTimeout = 5 * time.Second
	// socketWriteTimeout bounds the write of one batch: a peer that stops
	// reading fails the sink instead of holding it forever.
	socketWriteTimeout = 30 * time.Second
)

// Socket writes one line per item, format(item) followed by a newline
// (unless it ends with one), to a TCP server at addr ("host:port"): Jet's
// socket sink.
//
//	pipeline.WriteTo(alerts, sinks.Socket("dashboard.internal:7070", Alert.String))
//
// Each sink instance opens its own connection when the job starts, so an
// unreachable address fails the job at once, with an error naming it. Lines
// of one instance arrive in the order it received them, on its connection;
// call Singleton on the sink for a single connection carrying every item:
//
//	sinks.Socket(addr, format).Singleton()
//
// Reconnect policy: when writing a batch fails, the instance reconnects
// once and sends the whole batch again (the server may then receive some of
// its lines twice); if that fails too, the job fails (and restarts per its
// processing guarantee). At least once: after a restart from a snapshot the
// items since it are sent again.
//
// Backpressure is TCP's: a server that reads slowly slows the job down. One
// that stops reading for 30 s fails the job; connecting waits up to 5 s.
// Cancelling the job closes the connections at once, even in the middle of
// a write.
func Socket[T any](addr string, format func(T) string) pipeline.Sink[T] {
	return pipeline.NewSink("socket", func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		if format == nil {
			return nil, fmt.Errorf("socket sink %s: no format function", addr)
		}
		if err := checkAddr(addr); err != nil {
			return nil, err
		}
		w := &socketWriter[T]{ctx: ctx.Context(), addr: addr, format: format}
		if err := w.connect(); err != nil {
			return nil, err
		}
		return w, nil
	})
}

// checkAddr reports an address that cannot be dialled, before trying.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && port == "" {
		err = errors.New("no port")
	}
	if err == nil && host == "" {
		err = errors.New("no host")
	}
	if err != nil {
		return fmt.Errorf("socket sink: address %q: %w", addr, err)
	}
	return nil
}

type socketWriter[T any] struct {
	ctx    context.Context // the execution's: cancelled when the job stops here
	addr   string
	format func(T) string
	conn   net.Conn
	// unwatch stops closing conn when ctx ends; it reports false if it had
	// already closed it.
	unwatch func() bool
	buf     []byte
}

func (w *socketWriter[T]) connect() error {
	d := net.Dialer{Timeout: socketDialTimeout}
	conn, err := d.DialContext(w.ctx, "tcp", w.addr)
	if err != nil {
		return fmt.Errorf("socket sink: cannot connect to %s: %w", w.addr, err)
	}
	w.conn = conn
	// A write blocked on a server that does not read ends when the job
	// stops, not 30 s later.
	w.unwatch = context.AfterFunc(w.ctx, func() { _ = conn.Close() })
	return nil
}

func (w *socketWriter[T]) Write(items []T) error {
	if w.conn == nil {
		if err := w.connect(); err != nil {
			return err
		}
	}
	w.buf = w.buf[:0]
	for _, it := range items {
		line := w.format(it)
		w.buf = append(w.buf, line...)
		if !strings.HasSuffix(line, "\n") {
			w.buf = append(w.buf, '\n')
		}
	}
	err := w.send()
	if err == nil {
		return nil
	}
	if w.ctx.Err() != nil {
		return w.ctx.Err() // the job stopped: no reconnecting
	}
	// Reconnect once and send the batch again.
	_ = w.Close()
	if cerr := w.connect(); cerr != nil {
		return fmt.Errorf("socket sink: write to %s: %w (reconnecting: %w)", w.addr, err, cerr)
	}
	if err := w.send(); err != nil {
		return fmt.Errorf("socket sink: write to %s: %w", w.addr, err)
	}
	return nil
}

func (w *socketWriter[T]) send() error {
	if err := w.conn.SetWriteDeadline(time.Now().Add(socketWriteTimeout)); err != nil {
		return err
	}
	_, err := w.conn.Write(w.buf)
	return err
}

func (w *socketWriter[T]) Close() error {
	if w.conn == nil {
		return nil
	}
	var err error
	if w.unwatch() { // not closed by the job's end yet
		err = w.conn.Close()
	}
	w.conn, w.unwatch = nil, nil
	return err
}
