package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
)

type edgeParams struct {
	N    int64
	Size int // item size in bytes
}

var edgeReceived atomic.Int64

func init() {
	// The DAG of dag/bench_test.go's BenchmarkDistributedEdge, with a
	// source that costs no call per item.
	dag.Register("dagbench.edge", func(p edgeParams) (*dag.DAG, error) {
		d := dag.New()
		payload := string(make([]byte, p.Size))
		// Only member 1 emits, and an all-to-one edge sends everything to
		// instance 0 on member 0: every item crosses the transport.
		src := d.AddVertex("source", func() dag.Processor {
			return &repeatSource{item: payload, n: p.N}
		}).LocalParallelism(1)
		sink := d.AddVertex("sink", dag.SinkP(func(_ *dag.Context, items []string) error {
			edgeReceived.Add(int64(len(items)))
			return nil
		})).LocalParallelism(1)
		dag.Between[string](src, sink).Distributed().AllToOne()
		return d, nil
	})
}

// repeatSource emits item n times, on member 1 only, writing straight into
// the edge's batches. The items of this workload exist before it starts,
// as the reference's buffer does, so the rate measured is the edge's: a
// dag.GeneratorP would add a function call per item, which at 8 bytes an
// item cost about 8% of the rate (workload 1 measures generators).
type repeatSource struct {
	item string
	n    int64
	out  *dag.Emitter[string]
}

func (s *repeatSource) Init(ctx *dag.Context) error {
	if ctx.MemberIndex != 1 {
		s.n = 0
	}
	var err error
	s.out, err = dag.Output[string](ctx, 0)
	return err
}

func (s *repeatSource) Process(int, *dag.Inbox) error { return nil }

func (s *repeatSource) Complete() (bool, error) {
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

// encodedSize is the size of a string of n bytes in msgpack, as the edge
// sends it: the header, then the bytes.
func encodedSize(n int) int64 {
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

// edgeWorkload measures workload 3: items of each size sent from one member
// to another over a distributed edge, against the same bytes copied over a
// plain loopback TCP connection, in turn.
func edgeWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("3. distributed edge, 2 members, every item crosses (%d MB encoded per run); reference: loopback TCP copy of the same bytes", cfg.edgeBytes/1e6)}
	c, err := startCluster(ctx, "edge", 2)
	if err != nil {
		return []harness.Section{sec}, err
	}
	defer c.Stop()
	var firstErr error
	prof.During("edge", func() {
		for _, size := range cfg.edgeSizes {
			wire := encodedSize(size)
			n := max(cfg.edgeBytes/wire, 1)
			var weir, tcp measured
			alternate(cfg.rounds,
				func(int) {
					edgeReceived.Store(0)
					d, err := runJob(ctx, c.Members[0], "dagbench.edge", edgeParams{N: n, Size: size})
					if err == nil && edgeReceived.Load() != n {
						err = fmt.Errorf("received %d of %d items", edgeReceived.Load(), n)
					}
					weir.add(float64(n), d, err)
				},
				func(int) {
					var err error
					d := reference(func() { err = tcpCopy(n * wire) })
					tcp.add(float64(n), d, err)
				})
			if firstErr == nil {
				firstErr = weir.err
			}
			tcpErr := tcp.err
			if tcpErr != nil {
				tcp = measured{}
			}
			what := fmt.Sprintf("%d B items (%d B encoded)", size, wire)
			sec.Rows = append(sec.Rows,
				harness.RatioRow(what+": items/s", weir.perSec(), tcp.perSec(), itemsUnit, harness.NoTarget, weir.err),
				harness.RatioRow(what+": MB/s", weir.perSec()*float64(wire), tcp.perSec()*float64(wire), mbUnit, harness.AtLeast(0.5), weir.err))
			if tcpErr != nil {
				sec.Notes = append(sec.Notes, fmt.Sprintf("TCP reference for %d B items failed: %v", size, tcpErr))
			}
		}
	})
	sec.Notes = append(sec.Notes, fmt.Sprintf("%d alternating rounds per size; MB/s counts the items' msgpack encoding only (weir's frame headers and credits are its own overhead); the reference's items/s is its MB/s over the encoded size; weir's time includes job set-up", cfg.rounds))
	return []harness.Section{sec}, firstErr
}

// tcpCopy sends total bytes over a loopback TCP connection in 64 KiB writes
// and returns once the reader has them all.
func tcpCopy(total int64) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
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
		return err
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	for sent := int64(0); sent < total; {
		k := min(int64(len(buf)), total-sent)
		if _, err := conn.Write(buf[:k]); err != nil {
			return err
		}
		sent += k
	}
	return <-done
}
