package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/weir-dev/weir/bench/internal/harness"
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
	srv, err := harness.StartRedis(ctx, cfg.redisServer)
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(&redis.Options{
		Addr:     srv.Addr,
		PoolSize: cfg.clients,
		// Connections dialled up front, as weir's are before measuring.
		MinIdleConns: cfg.clients,
	})
	stop := func() {
		_ = client.Close()
		srv.Stop()
	}
	if err := preloadRedis(ctx, client, data); err != nil {
		stop()
		return nil, err
	}
	return &system{
		name:   fmt.Sprintf("%s, go-redis PoolSize %d", srv.Name, cfg.clients),
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
