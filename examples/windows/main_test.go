package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, clustertest.LeakOptions()...) }

// The windows are those of the readings, worked out by hand.
func TestRun(t *testing.T) {
	require.Equal(t, `liters per truck per minute (tumbling windows):
  08:00-08:01 truck-1  4.5 L
  08:00-08:01 truck-2  4.0 L
  08:00-08:01 truck-3  1.0 L
  08:01-08:02 truck-1  3.0 L
  08:01-08:02 truck-2  9.5 L
  08:02-08:03 truck-1  1.5 L
  08:02-08:03 truck-3  1.2 L
fleet readings, 2-minute windows every minute (sliding windows):
  07:59-08:01 4 readings
  08:00-08:02 7 readings
  08:01-08:03 5 readings
  08:02-08:04 2 readings
`, clustertest.Output(t, run))
}
