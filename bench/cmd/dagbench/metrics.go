package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/ops"
)

// metricsScrapeEvery is how often workload 8 scrapes each member with
// metrics on: 15 times as often as Prometheus's default.
const metricsScrapeEvery = time.Second

// metricsWorkload measures workload 8: Q5 (as workload 4) on one member
// with metrics on (the HTTP endpoint attached, as "weir member" runs, and
// scraped every second) against one with metrics off (no endpoint), in
// turn. The target: on/off at least 0.97.
func metricsWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("8. cost of metrics: NEXMark Q5, %d bids per run, on one member with its HTTP endpoint scraped every %v (weir) against one without (reference)", cfg.events, metricsScrapeEvery)}
	off, err := harness.StartCluster(ctx, harness.ClusterConfig{Name: "metrics-off", Data: 1, LANGossip: true})
	if err != nil {
		return []harness.Section{sec}, err
	}
	defer off.Stop()
	on, err := harness.StartCluster(ctx, harness.ClusterConfig{Name: "metrics-on", Data: 1, LANGossip: true, HTTP: true})
	if err != nil {
		return []harness.Section{sec}, err
	}
	defer on.Stop()
	url := "http://" + ops.Addr(on.Members[0]) + "/metrics"
	var resOn, resOff measured
	scrapes := 0
	prof.During("metrics", func() {
		alternate(cfg.rounds,
			func(round int) {
				stop := scrapeEvery(ctx, url, metricsScrapeEvery)
				resOn.addCPU(func() {
					_, d, err := runQ5(ctx, on, cfg.events, round)
					resOn.add(float64(cfg.events), d, err)
				})
				scrapes += stop()
			},
			func(round int) {
				resOff.addCPU(func() {
					_, d, err := runQ5(ctx, off, cfg.events, round)
					resOff.add(float64(cfg.events), d, err)
				})
			})
	})
	firstErr := resOn.err
	if firstErr == nil {
		firstErr = resOff.err
	}
	sec.Rows = append(sec.Rows,
		harness.RatioRow("Q5 events/s, metrics on / off", resOn.perSec(), resOff.perSec(), eventsUnit, harness.AtLeast(0.97), firstErr),
		harness.RatioRow("Q5 events per CPU-second, metrics on / off", resOn.perCPUSec(), resOff.perCPUSec(), eventsUnit, harness.AtLeast(0.97), firstErr))
	sec.Notes = append(sec.Notes, fmt.Sprintf("%d alternating rounds; %d scrapes of the member with metrics on during its runs", cfg.rounds, scrapes))
	return []harness.Section{sec}, firstErr
}

// scrapeEvery scrapes url at once and then every d until stopped; stop
// returns how many scrapes answered.
func scrapeEvery(ctx context.Context, url string, d time.Duration) (stop func() int) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	n := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			if req, err := http.NewRequestWithContext(ctx, "GET", url, nil); err == nil {
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					n++
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() int { cancel(); wg.Wait(); return n }
}
