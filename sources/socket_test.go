package sources_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type socketParams struct {
	Addr    string
	MaxLine int
	Bag     string
}

func init() {
	dag.Register("sources.test.socket", func(p socketParams) (*dag.DAG, error) {
		var opts []sources.SocketOption
		if p.MaxLine != 0 {
			opts = append(opts, sources.MaxLineLength(p.MaxLine))
		}
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.Socket(p.Addr, opts...), pipeline.IngestionTime[string]())
		pipeline.WriteTo(lines, collect[string](p.Bag))
		return pl.Compile()
	})
}

// lineServer is a TCP server on 127.0.0.1 that writes its content to the
// first connection, then closes it (unless hold), and counts connections.
type lineServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns int
	done  chan struct{} // closed when the test ends: held connections close
}

func serveLines(t *testing.T, content string, hold bool) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &lineServer{ln: ln, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			_, _ = conn.Write([]byte(content))
			if hold {
				<-s.done
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *lineServer) addr() string { return s.ln.Addr().String() }

func (s *lineServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// TestSocket reads the lines a server sends until it closes the
// connection: "\n" and "\r\n" endings removed, the unterminated last line
// included, through one connection in the whole cluster.
func TestSocket(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	var want []string
	for i := range 5000 {
		line := fmt.Sprintf("reading %d", i)
		want = append(want, line)
		if i%2 == 0 {
			b.WriteString(line + "\r\n")
		} else {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("\nlast, unterminated")
	want = append(want, "", "last, unterminated")
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		srv := serveLines(t, b.String(), false)
		bag := newBag(t)
		require.NoError(t, run(t, c.Members()[0], "sources.test.socket", socketParams{Addr: srv.addr(), Bag: bag}))
		requireOnce(t, want, values[string](bag))
		require.Equal(t, 1, srv.connections(), "one instance in the cluster connects")
		require.Len(t, readers(bag), 1)
	})
}

// TestSocketCancel cancels a job reading a connection that stays open: the
// reader's goroutine ends with the job.
func TestSocketCancel(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	srv := serveLines(t, "one\ntwo\n", true)
	bag := newBag(t)
	j := submit(t, c.Members()[2], "sources.test.socket", socketParams{Addr: srv.addr(), Bag: bag})
	require.Eventually(t, func() bool { return bagFor(bag).len() == 2 }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, j.Cancel(ctxT(t, 10*time.Second)))
	require.ErrorIs(t, j.Wait(ctxT(t, time.Minute)), dag.ErrCancelled)
	require.ElementsMatch(t, []string{"one", "two"}, values[string](bag))
}

// TestSocketErrors fails the job with an error saying what is wrong: an
// address nothing listens on, a line longer than MaxLineLength, a bad
// configuration.
func TestSocketErrors(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = run(t, m, "sources.test.socket", socketParams{Addr: closed, Bag: newBag(t)})
	require.ErrorContains(t, err, "connect to "+closed)
	require.ErrorContains(t, err, "connection refused")

	// Ten bytes are fine, whatever the line ending; eleven are not.
	srv := serveLines(t, "0123456789\n0123456789\r\n0123456789\n0123456789X\nnever read\n", false)
	bag := newBag(t)
	err = run(t, m, "sources.test.socket", socketParams{Addr: srv.addr(), MaxLine: 10, Bag: bag})
	require.ErrorContains(t, err, "read from "+srv.addr()+": a line longer than 10 bytes (MaxLineLength)")
	require.NotContains(t, values[string](bag), "never read")

	err = run(t, m, "sources.test.socket", socketParams{Addr: "no port", MaxLine: -1, Bag: newBag(t)})
	require.ErrorContains(t, err, `address "no port": address no port: missing port in address`)
	require.ErrorContains(t, err, "MaxLineLength(-1): it must be positive")
}
