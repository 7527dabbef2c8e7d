package member_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// BenchmarkTransport measures request/response round trips between two
// members in one process, and in the same run the same round trips over
// plain TCP echo connections (one per client, blocking reads and writes),
// and reports the ratio weir/echo. clients is the number of goroutines
// issuing calls at once: weir multiplexes them over one connection and
// batches their frames; echo gives each its own connection.
//
//	go test -run XXX -bench Transport ./member/
func BenchmarkTransport(b *testing.B) {
	c := clustertest.Start(b, 2, member.Config{})
	a, peer := c.Members()[0], c.Members()[1]
	member.HostOf(peer).Handle("bench.echo", func(_ context.Context, r *member.Request) ([]byte, error) { return r.Payload, nil }, member.Inline())
	echo := startEcho(b)
	for _, size := range []int{64, 4 << 10, 256 << 10} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("bytes=%d/clients=%d", size, clients), func(b *testing.B) {
				payload := make([]byte, size)
				ctx := context.Background()
				weir := measure(b.N, clients, func() func() error {
					return func() error {
						_, err := member.HostOf(a).Call(ctx, peer.ID(), "bench.echo", payload)
						return err
					}
				})
				plain := measure(b.N, clients, func() func() error {
					conn, err := net.Dial("tcp", echo)
					if err != nil {
						return func() error { return err }
					}
					buf := make([]byte, size)
					return func() error {
						if _, err := conn.Write(payload); err != nil {
							return err
						}
						_, err := io.ReadFull(conn, buf)
						return err
					}
				})
				if weir.err != nil || plain.err != nil {
					b.Fatal(weir.err, plain.err)
				}
				n := float64(b.N)
				b.ReportMetric(n/weir.d.Seconds(), "weir-rt/s")
				b.ReportMetric(n/plain.d.Seconds(), "echo-rt/s")
				b.ReportMetric(2*n*float64(size)/weir.d.Seconds()/1e6, "weir-MB/s")
				b.ReportMetric(plain.d.Seconds()/weir.d.Seconds(), "weir/echo")
			})
		}
	}
}

type result struct {
	d   time.Duration
	err error
}

// measure runs n operations split over clients goroutines; newClient makes
// one client's operation (setting up its connection outside the timing).
func measure(n, clients int, newClient func() func() error) result {
	ops := make([]func() error, clients)
	for i := range ops {
		ops[i] = newClient()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for i, op := range ops {
		share := n / clients
		if i < n%clients {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range share {
				if err := op(); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return result{d: time.Since(start), err: first}
}

func startEcho(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	b.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
