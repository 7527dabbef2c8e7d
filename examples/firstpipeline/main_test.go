package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, clustertest.LeakOptions()...) }

func TestRun(t *testing.T) {
	require.Equal(t, `job firstpipeline.thirsty-trips completed; trips above 32 L/100km:
  t2 truck-2: 36.1 L/100km
  t3 truck-1: 32.6 L/100km
  t5 truck-2: 38.9 L/100km
  t6 truck-3: 35.0 L/100km
`, clustertest.Output(t, run))
}
