package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, clustertest.LeakOptions()...) }

func TestRun(t *testing.T) {
	require.Equal(t, `truck-7: {Driver:ana MaxLoadKg:18000}
near cache after reading 3 vehicles twice, and truck-7 again: {Hits:4 Misses:3 Invalidations:0 Evictions:0 Entries:3}
truck-7 after the update: {Driver:dee MaxLoadKg:18000}
near cache after the update and one more read: {Hits:4 Misses:4 Invalidations:1 Evictions:0 Entries:3}
session of ana: "token-1" (found: true)
session of ana: gone after its TTL of 500ms
`, clustertest.Output(t, run))
}
