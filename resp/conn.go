package resp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// flushAt is the size of buffered replies past which they are written
// before the rest of a pipeline runs, so that a pipeline's replies never
// pile up in memory.
const flushAt = 64 << 10

// client is one connection. Its goroutine reads a batch of commands (what
// one read brought: a single command, or part of a pipeline), runs them in
// order and writes their replies in one go. Reading the next batch waits
// for the replies to be written: a client that sends without reading is
// held back by TCP, and one that reads nothing for WriteTimeout is
// disconnected.
type client struct {
	s  *Server
	nc net.Conn
	rd *redcon.Reader
	id int64

	wmu sync.Mutex // guards out and writes to nc: pub/sub pushes come from listeners
	out replies
	// renewDeadline is when the write deadline is to be set again.
	renewDeadline time.Time

	// Owned by the client's goroutine.
	name   string
	authed bool
	quit   bool
	subs   map[string]func() // subscribed channel -> remove its listener
	pushes *pushQueue        // nil until the first SUBSCRIBE

	closing atomic.Bool
}

func newClient(s *Server, nc net.Conn) *client {
	g := &guardReader{r: nc, limits: s.limits}
	return &client{s: s, nc: nc, rd: redcon.NewReader(g), id: s.nextID.Add(1), authed: len(s.secret) == 0, out: replies{proto: 2}}
}

func (c *client) serve(ctx context.Context) {
	defer c.finish()
	// A member terminated without Shutdown cancels ctx only.
	defer context.AfterFunc(ctx, c.close)()
	for {
		cmds, err := c.rd.ReadCommands()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.wmu.Lock()
		c.run(ctx, cmds)
		err = c.flushLocked()
		c.wmu.Unlock()
		if err != nil || c.quit || c.closing.Load() {
			return
		}
	}
}

// readFailed answers a request that cannot be read before the connection
// closes: a protocol error or a request over the limit.
func (c *client) readFailed(err error) {
	var msg string
	var ferr *errFraming
	switch {
	case errors.As(err, &ferr):
		msg = ferr.msg
	case errors.Is(err, errTooLarge):
		msg = fmt.Sprintf("ERR Protocol error: request larger than %d bytes", c.s.limits.MaxRequest)
	case strings.HasPrefix(err.Error(), "Protocol error"):
		msg = "ERR " + err.Error()
	default:
		return // the client went away
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.out.error(msg)
	_ = c.flushLocked()
}

// run runs a batch of commands in order, answering each; runs of plain
// GETs and SETs go to their owners together (see batch.go).
func (c *client) run(ctx context.Context, cmds []redcon.Command) {
	for i := 0; i < len(cmds) && !c.quit; {
		if n := c.batchable(cmds[i:]); n > 1 {
			c.runBatch(ctx, cmds[i:i+n])
			i += n
		} else {
			c.exec(ctx, cmds[i].Args)
			i++
		}
		if len(c.out.buf) > flushAt {
			if err := c.flushLocked(); err != nil {
				c.quit = true
			}
		}
	}
}

// flushLocked writes the buffered replies.
func (c *client) flushLocked() error {
	if len(c.out.buf) == 0 {
		return nil
	}
	// Setting a deadline costs a timer update: it is renewed once a
	// quarter of WriteTimeout has passed, so a write blocked by a client
	// that reads nothing fails after 3/4 of WriteTimeout to WriteTimeout.
	if now := time.Now(); now.After(c.renewDeadline) {
		_ = c.nc.SetWriteDeadline(now.Add(c.s.limits.WriteTimeout))
		c.renewDeadline = now.Add(c.s.limits.WriteTimeout / 4)
	}
	_, err := c.nc.Write(c.out.buf)
	if cap(c.out.buf) > 4*flushAt {
		c.out.buf = nil // a huge reply's buffer is not kept
	} else {
		c.out.buf = c.out.buf[:0]
	}
	if err != nil {
		c.close()
	}
	return err
}

// close disconnects the client; its goroutine then ends.
func (c *client) close() {
	if c.closing.CompareAndSwap(false, true) {
		c.nc.Close()
	}
}

func (c *client) finish() {
	c.close()
	c.unsubscribeAll()
	if c.pushes != nil {
		c.pushes.stop()
	}
}
