package sinks_test

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type socketParams struct {
	Src  Src
	Addr string
}

func init() {
	dag.Register("sinks_test.socket", func(p socketParams) (*dag.DAG, error) {
		pl := pipeline.New()
		pipeline.WriteTo(p.Src.read(pl), sinks.Socket(p.Addr, func(i int) string { return fmt.Sprintf("line %d", i) }))
		return pl.Compile()
	})
}

// lineServer is a TCP server on 127.0.0.1 collecting the lines it receives,
// or, if it does not read, holding its connections open. It stops with the
// test, joining its goroutines.
type lineServer struct {
	ln    net.Listener
	read  bool
	mu    sync.Mutex
	lines []string
	conns []net.Conn
	wg    sync.WaitGroup
}

func startLineServer(t *testing.T, read bool) *lineServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &lineServer{ln: ln, read: read}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *lineServer) addr() string { return s.ln.Addr().String() }

func (s *lineServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		if !s.read {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				s.mu.Lock()
				s.lines = append(s.lines, sc.Text())
				s.mu.Unlock()
			}
		}()
	}
}

func (s *lineServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func TestSocket(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		srv := startLineServer(t, true)
		require.NoError(t, run(t, c.Members()[0], "sinks_test.socket", socketParams{Src: Src{N: 3000}, Addr: srv.addr()}))
		var want []string
		for i := range 3000 {
			want = append(want, fmt.Sprintf("line %d", i))
		}
		// The sinks closed their connections: the server reads to their end.
		require.Eventually(t, func() bool { return len(srv.received()) >= len(want) }, 30*time.Second, time.Millisecond)
		require.ElementsMatch(t, want, srv.received())
	})
}

func TestSocketBadAddress(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, clustertest.Config(t))
	m := c.Members()[0]

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = run(t, m, "sinks_test.socket", socketParams{Src: Src{N: 10}, Addr: addr})
	require.ErrorContains(t, err, "socket sink: cannot connect to "+addr)

	err = run(t, m, "sinks_test.socket", socketParams{Src: Src{N: 10}, Addr: "127.0.0.1"})
	require.ErrorContains(t, err, `socket sink: address "127.0.0.1"`)
	err = run(t, m, "sinks_test.socket", socketParams{Src: Src{N: 10}, Addr: ":7070"})
	require.ErrorContains(t, err, "no host")
}

// TestSocketCancelWhileBlocked: a server that stops reading holds the sink
// back (TCP's backpressure, up to the job's queues), and cancelling the job
// stops its execution at once, not after the 30 s write timeout.
func TestSocketCancelWhileBlocked(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, clustertest.Config(t))
	srv := startLineServer(t, false)
	gateName, _ := newGate(t, open)
	j := submit(t, c.Members()[0], "sinks_test.socket", socketParams{Src: Src{Gate: gateName}, Addr: srv.addr()}, dag.WithLocalParallelism(1))
	// Blocked: its queue is full and it takes nothing from it between two
	// looks. (On a machine slow enough to make a working sink look
	// blocked, the test passes without proving much; it never fails.)
	var last int64 = -1
	require.Eventually(t, func() bool {
		m := vertexMetrics(t, j, "socket")
		blocked := m.Queued >= 15*1024 && m.ItemsIn == last
		last = m.ItemsIn
		return blocked
	}, 30*time.Second, 10*time.Millisecond, "the sink never blocked")
	// Cancelling returns once the executions have stopped (and takes no
	// notice of its context's deadline when the coordinator is local): it
	// must not wait for the write timeout.
	ctx := ctxT(t, time.Minute)
	start := time.Now()
	require.NoError(t, j.Cancel(ctx))
	require.Less(t, time.Since(start), 15*time.Second, "the blocked write held the execution")
	require.ErrorIs(t, j.Wait(ctx), dag.ErrCancelled)
}
