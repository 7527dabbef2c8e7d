package main

import (
	"context"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// startCluster starts data members (each joining the first) and lite lite
// members in this process, with member.LocalConfig. It waits until every
// partition has its backup as well as its owner (FullReplicas): a Put
// waits for its backup, and a measurement should not start while backups
// are still being migrated.
func startCluster(ctx context.Context, data, lite int) (*harness.Cluster, error) {
	return harness.StartCluster(ctx, harness.ClusterConfig{Name: "bench", Data: data, Lite: lite, FullReplicas: true})
}
