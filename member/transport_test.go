package member_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

var errTestSentinel = errors.New("test sentinel")

func init() { member.RegisterErrorCode("test-sentinel", errTestSentinel) }

func pair(t *testing.T) (*member.Member, *member.Member) {
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	return ms[0], ms[1]
}

func TestCallRoundTripAndErrors(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	for _, m := range []*member.Member{a, b} {
		member.HostOf(m).Handle("test.echo", func(_ context.Context, r *member.Request) ([]byte, error) {
			return append([]byte(r.From+":"), r.Payload...), nil
		})
		member.HostOf(m).Handle("test.fail", func(context.Context, *member.Request) ([]byte, error) {
			return nil, fmt.Errorf("wrapped: %w", errTestSentinel)
		})
		member.HostOf(m).Handle("test.panic", func(context.Context, *member.Request) ([]byte, error) { panic("boom") })
	}
	ctx := ctxT(t, 10*time.Second)

	resp, err := member.HostOf(a).Call(ctx, b.ID(), "test.echo", []byte("hi"))
	require.NoError(t, err)
	require.Equal(t, a.ID()+":hi", string(resp))

	resp, err = member.HostOf(a).Call(ctx, a.ID(), "test.echo", []byte("self"))
	require.NoError(t, err, "a call to oneself runs locally")
	require.Equal(t, a.ID()+":self", string(resp))

	_, err = member.HostOf(a).Call(ctx, b.ID(), "test.fail", nil)
	require.ErrorIs(t, err, errTestSentinel, "registered sentinels survive the wire")
	var re *member.RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, b.ID(), re.Member)
	require.Contains(t, err.Error(), "wrapped: test sentinel")

	_, err = member.HostOf(a).Call(ctx, b.ID(), "test.panic", nil)
	require.ErrorContains(t, err, "panicked: boom")

	_, err = member.HostOf(a).Call(ctx, b.ID(), "test.nothing", nil)
	require.ErrorIs(t, err, member.ErrNoHandler)

	_, err = member.HostOf(a).Call(ctx, "no-such-member", "test.echo", nil)
	require.ErrorIs(t, err, member.ErrUnknownMember)
}

func TestCallCancellationReachesHandler(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	member.HostOf(b).Handle("test.block", func(ctx context.Context, _ *member.Request) ([]byte, error) {
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := member.HostOf(a).Call(ctx, b.ID(), "test.block", nil)
		errc <- err
	}()
	<-started
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	select {
	case err := <-cancelled:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context was not cancelled")
	}

	// A deadline travels with the request.
	member.HostOf(b).Handle("test.deadline", func(ctx context.Context, _ *member.Request) ([]byte, error) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > 5*time.Second {
			return nil, errors.New("no deadline")
		}
		return nil, nil
	})
	dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer dcancel()
	_, err := member.HostOf(a).Call(dctx, b.ID(), "test.deadline", nil)
	require.NoError(t, err)
}

func TestConcurrentCallsAndOneWayOrder(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	member.HostOf(b).Handle("test.echo", func(_ context.Context, r *member.Request) ([]byte, error) { return r.Payload, nil })
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	member.HostOf(b).Handle("test.seq", func(_ context.Context, r *member.Request) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, int(binary.BigEndian.Uint32(r.Payload)))
		if len(got) == 1000 {
			close(done)
		}
		return nil, nil
	}, member.Inline())
	ctx := ctxT(t, 20*time.Second)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				msg := []byte(fmt.Sprintf("%d-%d", g, i))
				resp, err := member.HostOf(a).Call(ctx, b.ID(), "test.echo", msg)
				if err != nil || !bytes.Equal(resp, msg) {
					failures.Add(1)
				}
			}
		}()
	}
	for i := range 1000 {
		require.NoError(t, member.HostOf(a).Send(ctx, b.ID(), "test.seq", binary.BigEndian.AppendUint32(nil, uint32(i))))
	}
	wg.Wait()
	require.Zero(t, failures.Load())
	<-done
	for i, v := range got {
		require.Equal(t, i, v, "one-way messages from one goroutine arrive in order")
	}
}

func TestOversizedMessageIsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.MaxFrameSize = 1 << 16
	c := clustertest.Start(t, 2, cfg)
	a, b := c.Members()[0], c.Members()[1]
	member.HostOf(b).Handle("test.echo", func(_ context.Context, r *member.Request) ([]byte, error) { return r.Payload, nil })
	_, err := member.HostOf(a).Call(ctxT(t, 5*time.Second), b.ID(), "test.echo", make([]byte, 1<<17))
	require.ErrorContains(t, err, "exceeds MaxFrameSize")
	// The connection is still good.
	_, err = member.HostOf(a).Call(ctxT(t, 5*time.Second), b.ID(), "test.echo", []byte("ok"))
	require.NoError(t, err)
}

// logRecorder collects log records for assertions.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var sb strings.Builder
	sb.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, sb.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }
func (r *logRecorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func TestTransportRefusesGarbageAndForgedPeers(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{}
	cfg := clustertest.Config(t)
	cfg.Logger = slog.New(rec)
	cfg.SecretKey = []byte("s3cret")
	m, err := member.Start(ctxT(t, 10*time.Second), cfg)
	require.NoError(t, err)
	defer m.Shutdown(context.Background())

	cases := map[string]struct {
		send []byte
		log  string
	}{
		"http request": {[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "frame larger than the limit"},
		"huge length":  {[]byte{0xff, 0xff, 0xff, 0xff, 0, 0}, "frame larger than the limit"},
		"bad header":   {[]byte{0, 0, 0, 4, 0, 2, 0xc1, 0xc1}, "malformed frame"},
		"huge msgpack": {handshakeFrame([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}), "invalid msgpack"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nc, err := net.Dial("tcp", m.TransportAddr())
			require.NoError(t, err)
			defer nc.Close()
			_, _ = nc.Write(tc.send)
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.ReadAll(nc)
			require.NoError(t, err, "the member closes the connection")
			require.Eventually(t, func() bool { return rec.has(tc.log) }, 5*time.Second, 10*time.Millisecond)
		})
	}
	// The member still works.
	_, err = member.HostOf(m).Call(ctxT(t, time.Second), m.ID(), "member.table.get", nil)
	require.NoError(t, err)
}

func handshakeFrame(payload []byte) []byte {
	header := []byte{0x96, 1, 0, 0xa0, 0xa0, 0xa0, 0}
	b := binary.BigEndian.AppendUint32(nil, uint32(2+len(header)+len(payload)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(header)))
	return append(append(b, header...), payload...)
}

func TestStreamFlowControl(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.StreamWindow = 64 << 10
	c := clustertest.Start(t, 2, cfg)
	a, b := c.Members()[0], c.Members()[1]

	release := make(chan struct{})
	received := make(chan int, 1)
	member.HostOf(b).HandleStream("test.sink", func(ctx context.Context, s *member.Stream) {
		require.Equal(t, "hello", string(s.Hello()))
		<-release // a slow consumer: nothing is read until released
		total := 0
		for {
			msg, err := s.Recv(ctx)
			if err == io.EOF {
				received <- total
				return
			}
			if err != nil {
				received <- -1
				return
			}
			total += len(msg)
		}
	})
	ctx := ctxT(t, 30*time.Second)
	s, err := member.HostOf(a).OpenStream(ctx, b.ID(), "test.sink", []byte("hello"))
	require.NoError(t, err)

	// With the consumer stalled, the sender can put at most one window in
	// flight: the next send blocks until its context gives up.
	msg := make([]byte, 16<<10)
	sent := 0
	for {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := s.Send(sctx, msg)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		sent += len(msg)
		require.LessOrEqual(t, sent, 64<<10, "sent beyond the window")
	}
	require.Equal(t, 64<<10, sent)

	close(release)
	for range 100 {
		require.NoError(t, s.Send(ctx, msg))
		sent += len(msg)
	}
	// A message larger than the window still goes through, alone.
	require.NoError(t, s.Send(ctx, make([]byte, 200<<10)))
	sent += 200 << 10
	require.NoError(t, s.Close())
	require.Equal(t, sent, <-received)
}

// A receiver that recycles its messages gets each one intact although the
// connection reads the next ones into the buffers it gave back, and the
// stream then allocates far less than the bytes it carries.
func TestStreamRecycledMessages(t *testing.T) {
	// Not parallel: it counts the process's allocations.
	cfg := clustertest.Config(t)
	// A small window keeps the sender's write buffers small, so that their
	// growth does not hide what the receiver allocates.
	cfg.StreamWindow = 64 << 10
	c := clustertest.Start(t, 2, cfg)
	a, b := c.Members()[0], c.Members()[1]
	const msgs, size = 2000, 9000
	errc := make(chan error, 1)
	member.HostOf(b).HandleStream("test.recycle", func(ctx context.Context, s *member.Stream) {
		s.RecycleMessages()
		var want []byte
		for i := 0; ; i++ {
			msg, err := s.Recv(ctx)
			if err == io.EOF {
				if i != msgs {
					err = fmt.Errorf("%d messages, want %d", i, msgs)
				} else {
					err = nil
				}
				errc <- err
				return
			}
			if err != nil {
				errc <- err
				return
			}
			if want = recycleMsg(want[:0], i, size); !bytes.Equal(msg, want) {
				errc <- fmt.Errorf("message %d changed", i)
				return
			}
			s.Recycle(msg)
		}
	})
	ctx := ctxT(t, 30*time.Second)
	s, err := member.HostOf(a).OpenStream(ctx, b.ID(), "test.recycle", nil)
	require.NoError(t, err)
	var buf []byte
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range msgs {
		buf = recycleMsg(buf[:0], i, size)
		require.NoError(t, s.Send(ctx, buf))
	}
	require.NoError(t, s.Close())
	require.NoError(t, <-errc)
	runtime.ReadMemStats(&after)
	// Reading into fresh buffers would allocate every byte (18 MB). The
	// race detector's pools drop a quarter of what they are given.
	limit := msgs * size / 4
	if raceDetector {
		limit = msgs * size * 3 / 4
	}
	t.Logf("allocated %d bytes for %d received", after.TotalAlloc-before.TotalAlloc, msgs*size)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(limit))
}

// recycleMsg is message i of the recycling test: its number, then bytes
// that differ from one message to the next.
func recycleMsg(dst []byte, i, size int) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(i))
	for k := 8; k < size; k++ {
		dst = append(dst, byte(i+k))
	}
	return dst
}

func TestStreamToMissingHandlerFails(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	ctx := ctxT(t, 10*time.Second)
	s, err := member.HostOf(a).OpenStream(ctx, b.ID(), "test.none", nil)
	require.NoError(t, err)
	_, err = s.Recv(ctx)
	require.ErrorIs(t, err, member.ErrNoHandler)
}

func TestPendingCallsFailWhenPeerDies(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	a, b := c.Members()[0], c.Members()[1]
	entered := make(chan struct{})
	member.HostOf(b).Handle("test.hang", func(ctx context.Context, _ *member.Request) ([]byte, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		_, err := member.HostOf(a).Call(context.Background(), b.ID(), "test.hang", nil)
		errc <- err
	}()
	<-entered
	b.Terminate()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, member.ErrConnectionLost)
	case <-time.After(10 * time.Second):
		t.Fatal("pending call not failed")
	}
}
