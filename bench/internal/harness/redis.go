package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server started by StartRedis: the reference the
// benchmarks measure weir against.
type RedisServer struct {
	// Addr is the loopback address it listens on.
	Addr string
	// Name is its name and version: "redis-server 7.0.15".
	Name   string
	cmd    *exec.Cmd
	output *bytes.Buffer
	exited chan struct{} // closed when the process has ended
}

// PID is the server's process ID.
func (s *RedisServer) PID() int { return s.cmd.Process.Pid }

// StartRedis starts bin (a redis-server) on a free loopback port, without
// persistence, and waits until it answers. Stop it with Stop.
func StartRedis(ctx context.Context, bin string) (*RedisServer, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s is not on PATH (on Debian: apt-get install -y redis-server): %w", bin, err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Name: "redis-server", output: new(bytes.Buffer)}
	if out, err := exec.CommandContext(ctx, path, "--version").Output(); err == nil {
		// "Redis server v=7.0.15 sha=... ": keep the version.
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				s.Name += " " + v
			}
		}
	}
	s.cmd = exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	ping := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer ping.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping.Ping(ctx).Err()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer within 10s: %v; its output:\n%s", s.Addr, err, s.output)
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited at start (%v); its output:\n%s", s.Addr, s.cmd.ProcessState, s.output)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the server and waits for it to end.
func (s *RedisServer) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// FreePort asks the kernel for a free loopback port. Another process could
// take it before redis-server binds it; redis-server then fails to start
// and says so.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
