package main

import (
	"context"
	"fmt"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/grid"
)

// putPercent is the share of Puts in the mixed workload; the rest are Gets.
const putPercent = 10

// system is one system under the mixed workload, started and preloaded.
type system struct {
	name   string
	client func(i int) kv // the client number i uses
	stop   func()
}

// mixedWorkload measures workload 2: clients concurrent clients doing 90%
// Get / 10% Put on weir and on redis. The two alternate in rounds, each with
// the machine to itself while it runs; the other one sits idle.
func mixedWorkload(ctx context.Context, cfg config, prof *harness.Profiler) (harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("2. %d clients, %d%% Get / %d%% Put, %d keys, %v each",
		cfg.clients, 100-putPercent, putPercent, cfg.keys, cfg.duration)}
	data := newDataset(cfg.keys)
	weir, err := startWeir(ctx, cfg, data)
	if err != nil {
		return sec, err
	}
	defer weir.stop()
	redis, redisErr := startRedisSystem(ctx, cfg, data)
	if redisErr == nil {
		defer redis.stop()
	}
	sec.Title += "; weir: " + weir.name + "; reference: "
	if redisErr != nil {
		sec.Title += "redis (not measured)"
	} else {
		sec.Title += redis.name
	}

	weirRes, redisRes := newMixed(), newMixed()
	runs := []func(time.Duration, int){func(d time.Duration, round int) {
		runMixed(weirRes, "weir", cfg.clients, d, round, data, weir.client)
	}}
	if redisErr == nil {
		runs = append(runs, func(d time.Duration, round int) {
			runMixed(redisRes, "redis", cfg.clients, d, round, data, redis.client)
		})
	}
	alternate(1, cfg.warmup*time.Duration(len(runs)), runs...)
	weirRes, redisRes = newMixed(), newMixed()
	prof.During("cluster", func() { alternate(cfg.rounds, cfg.duration, runs...) })

	ref := func(v float64) float64 {
		if redisErr != nil {
			return nan
		}
		return v
	}
	sec.Rows = []harness.Row{
		harness.RatioRow("throughput", weirRes.perSec(), ref(redisRes.perSec()), opsUnit, harness.AtLeast(1), nil),
		harness.RatioRow("latency p50", weirRes.percentile(50), ref(redisRes.percentile(50)), latencyUnit, harness.NoTarget, nil),
		harness.RatioRow("latency p99", weirRes.percentile(99), ref(redisRes.percentile(99)), latencyUnit, harness.AtMost(1), nil),
		harness.RatioRow("latency p99.9", weirRes.percentile(99.9), ref(redisRes.percentile(99.9)), latencyUnit, harness.NoTarget, nil),
	}
	for _, r := range []struct {
		name string
		m    *mixed
	}{{"weir", weirRes}, {"redis", redisRes}} {
		if r.m.errs > 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: %d of %d operations failed, first: %v", r.name, r.m.errs, r.m.ops, r.m.err))
		}
	}
	if redisErr != nil {
		sec.Notes = append(sec.Notes, "redis not measured: "+redisErr.Error())
	}
	sec.Notes = append(sec.Notes, fmt.Sprintf("operations measured: weir %d, redis %d, in %d alternating rounds after %v of warm-up each; latency is per operation, seen by the client",
		weirRes.ops, redisRes.ops, cfg.rounds, cfg.warmup))
	if redisErr != nil {
		return sec, fmt.Errorf("weir measured, redis not: %w", redisErr)
	}
	return sec, nil
}

// weirKV drives a map handle.
type weirKV struct{ mp *grid.Map[string, []byte] }

func (w weirKV) get(ctx context.Context, k string) error {
	_, ok, err := w.mp.Get(ctx, k)
	if err == nil && !ok {
		err = errMissing(k)
	}
	return err
}

func (w weirKV) put(ctx context.Context, k string, v []byte) error { return w.mp.Put(ctx, k, v) }

// startWeir starts three data members (BackupCount 1, so every Put also
// waits for a backup on another member) and preloads the map.
//
// With -via lite, every client uses a fourth, lite member: like a redis
// client it holds no data, so every operation crosses a loopback TCP
// connection to the owner. With -via members, clients are spread over the
// three data members, and a third of the operations find their key owned by
// the member they call.
func startWeir(ctx context.Context, cfg config, data dataset) (*system, error) {
	lite := 0
	if cfg.via == "lite" {
		lite = 1
	}
	c, err := startCluster(ctx, 3, lite)
	if err != nil {
		return nil, err
	}
	entry, name := c.Lite(), "3 data members + 1 lite member that all clients use"
	if cfg.via == "members" {
		entry, name = c.Data(), "3 data members, clients spread over them"
	}
	handles := make([]*grid.Map[string, []byte], len(entry))
	for i, m := range entry {
		handles[i] = grid.GetMap[string, []byte](m, "bench-mixed")
	}
	if err := preload(ctx, handles[0], data); err != nil {
		c.Stop()
		return nil, err
	}
	return &system{
		name:   name,
		client: func(i int) kv { return weirKV{handles[i%len(handles)]} },
		stop:   c.Stop,
	}, nil
}
