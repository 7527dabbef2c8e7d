package main

import (
	"context"
	"log/slog"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// startCluster starts n data members in this process and waits until the
// cluster is stable: every member owns partitions, so a job submitted to
// any of them runs on all of them.
func startCluster(ctx context.Context, name string, n int) (*harness.Cluster, error) {
	return startClusterLogging(ctx, name, n, harness.Logger())
}

// startClusterLogging is startCluster with the members logging to log.
// The members keep member.DefaultConfig's gossip timings (LANGossip): the
// workloads keep every core busy.
func startClusterLogging(ctx context.Context, name string, n int, log *slog.Logger) (*harness.Cluster, error) {
	return harness.StartCluster(ctx, harness.ClusterConfig{Name: name, Data: n, LANGossip: true, Logger: log})
}
