package benchref

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/dag"
)

// EdgeParams are the edge job's parameters: N strings of Size bytes, or,
// with Ints, N int64s, each 9 bytes encoded like an 8-byte string. Reuse
// makes the edge reuse memory (dag.Edge.ReuseMemory); the sink keeps
// nothing.
type EdgeParams struct {
	N     int64
	Size  int
	Ints  bool
	Reuse bool
}

// EdgeReceived is what the edge job's sink received.
var EdgeReceived atomic.Int64

// EdgeInt is the int64 the edge job sends: msgpack encodes it in 9 bytes.
const EdgeInt int64 = -1 << 40

// Encoded is the size of one of the edge job's items in msgpack, as the
// edge sends it.
func (p EdgeParams) Encoded() int64 {
	if p.Ints {
		return 9 // EdgeInt's encoding: a type byte, then 8 bytes
	}
	return EncodedSize(p.Size)
}

func init() {
	dag.Register("benchref.edge", func(p EdgeParams) (*dag.DAG, error) {
		d := dag.New()
		if p.Ints {
			edgeJob(d, EdgeInt, p)
		} else {
			edgeJob(d, string(make([]byte, p.Size)), p)
		}
		return d, nil
	})
}

// edgeJob sends item n times from member 1 to member 0. Only member 1
// emits, and an all-to-one edge sends everything to instance 0 on member
// 0: every item crosses the transport.
func edgeJob[T any](d *dag.DAG, item T, p EdgeParams) {
	src := d.AddVertex("source", func() dag.Processor {
		return &repeatSource[T]{item: item, n: p.N}
	}).LocalParallelism(1)
	sink := d.AddVertex("sink", dag.SinkP(func(_ *dag.Context, items []T) error {
		EdgeReceived.Add(int64(len(items)))
		return nil
	})).LocalParallelism(1)
	e := dag.Between[T](src, sink).Distributed().AllToOne()
	if p.Reuse {
		e.ReuseMemory()
	}
}

// repeatSource emits item n times, on member 1 only, writing straight into
// the edge's batches. The items of the edge benchmark exist before it
// starts, as the reference's buffer does, so the rate measured is the
// edge's: a dag.GeneratorP would add a function call per item, which at 8
// bytes an item cost about 8% of the rate (the pipeline benchmark measures
// generators).
type repeatSource[T any] struct {
	item T
	n    int64
	out  *dag.Emitter[T]
}

func (s *repeatSource[T]) Init(ctx *dag.Context) error {
	if ctx.MemberIndex != 1 {
		s.n = 0
	}
	var err error
	s.out, err = dag.Output[T](ctx, 0)
	return err
}

func (s *repeatSource[T]) Process(int, *dag.Inbox) error { return nil }

func (s *repeatSource[T]) Complete() (bool, error) {
	for s.n > 0 {
		buf := s.out.Space(int(min(s.n, 1024)))
		if buf == nil {
			return false, errors.New("repeatSource: Space is not offered on a partitioned edge")
		}
		if len(buf) == 0 {
			return false, nil // the edge is full: called again later
		}
		buf = buf[:min(int64(len(buf)), s.n)]
		for i := range buf {
			buf[i] = s.item
		}
		s.out.Commit(len(buf))
		s.n -= int64(len(buf))
	}
	return true, nil
}

// EncodedSize is the size of a string of n bytes in msgpack, as the edge
// sends it: the header, then the bytes.
func EncodedSize(n int) int64 {
	switch {
	case n <= 31:
		return int64(n) + 1
	case n <= 255:
		return int64(n) + 2
	case n <= 65535:
		return int64(n) + 3
	}
	return int64(n) + 5
}

// TCPCopy sends total bytes over a loopback TCP connection in 64 KiB
// writes, to a reader that discards them, and returns how long they took
// from the first write until the reader had them all.
func TCPCopy(total int64) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(io.Discard, c, total)
		done <- err
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		ln.Close() // ends the Accept
		<-done
		return 0, err
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := int64(0); sent < total; {
		k := min(int64(len(buf)), total-sent)
		if _, err := conn.Write(buf[:k]); err != nil {
			conn.Close() // ends the reader's copy
			<-done
			return 0, err
		}
		sent += k
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
