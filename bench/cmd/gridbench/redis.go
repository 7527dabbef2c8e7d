package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisKV drives a go-redis client.
type redisKV struct{ c *redis.Client }

func (r redisKV) get(ctx context.Context, k string) error {
	_, err := r.c.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		err = errMissing(k)
	}
	return err
}

func (r redisKV) put(ctx context.Context, k string, v []byte) error {
	return r.c.Set(ctx, k, v, 0).Err()
}

// startRedisSystem starts a redis-server on a free loopback port, without
// persistence, and preloads it through a go-redis client with one pooled
// connection per benchmark client.
func startRedisSystem(ctx context.Context, cfg config, data dataset) (*system, error) {
	srv, err := startRedis(ctx, cfg.redisServer)
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(&redis.Options{
		Addr:     srv.addr,
		PoolSize: cfg.clients,
		// Connections dialled up front, as weir's are before measuring.
		MinIdleConns: cfg.clients,
	})
	stop := func() {
		_ = client.Close()
		srv.stop()
	}
	if err := preloadRedis(ctx, client, data); err != nil {
		stop()
		return nil, err
	}
	return &system{
		name:   fmt.Sprintf("%s, go-redis PoolSize %d", srv.name, cfg.clients),
		client: func(int) kv { return redisKV{client} },
		stop:   stop,
	}, nil
}

// preloadRedis stores the dataset with pipelined MSETs.
func preloadRedis(ctx context.Context, c *redis.Client, data dataset) error {
	const batch = 1000
	for lo := 0; lo < len(data.keys); lo += batch {
		hi := min(lo+batch, len(data.keys))
		args := make([]any, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			args = append(args, data.keys[i], data.values[i])
		}
		if err := c.MSet(ctx, args...).Err(); err != nil {
			return fmt.Errorf("preload redis: %w", err)
		}
	}
	return nil
}

type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	name   string // "redis-server 7.0.15"
	output *bytes.Buffer
	exited chan struct{} // closed when the process has ended
}

// startRedis starts bin on a free loopback port and waits until it answers.
func startRedis(ctx context.Context, bin string) (*redisServer, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s is not on PATH (on Debian: apt-get install -y redis-server): %w", bin, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), name: "redis-server", output: new(bytes.Buffer)}
	if out, err := exec.CommandContext(ctx, path, "--version").Output(); err == nil {
		// "Redis server v=7.0.15 sha=... ": keep the version.
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				s.name += " " + v
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
	ping := redis.NewClient(&redis.Options{Addr: s.addr})
	defer ping.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping.Ping(ctx).Err()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer within 10s: %v; its output:\n%s", s.addr, err, s.output)
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited at start (%v); its output:\n%s", s.addr, s.cmd.ProcessState, s.output)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before redis-server binds it; redis-server then fails to start
// and says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
