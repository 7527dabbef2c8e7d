package dag

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRestartBackoffDoublesUpToItsCap(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	var b time.Duration
	for range 8 {
		b = nextRestartBackoff(b)
		got = append(got, b)
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2 * time.Second, 2 * time.Second}, got)
}

func TestJobTimingDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      JobConfig
		scaleUp  time.Duration
		scales   bool
		every    time.Duration
		deadline time.Duration
	}{
		{"defaults", JobConfig{}, DefaultScaleUpDelay, true, DefaultSnapshotInterval, 30 * time.Second},
		{"never scale up", JobConfig{ScaleUpDelay: -1}, 0, false, DefaultSnapshotInterval, 30 * time.Second},
		{"short interval: the timeout stays 30s", JobConfig{ScaleUpDelay: time.Second, SnapshotInterval: 20 * time.Millisecond}, time.Second, true, 20 * time.Millisecond, 30 * time.Second},
		{"long interval: three of them", JobConfig{SnapshotInterval: time.Minute}, DefaultScaleUpDelay, true, time.Minute, 3 * time.Minute},
		{"negative interval: the default", JobConfig{SnapshotInterval: -time.Second}, DefaultScaleUpDelay, true, DefaultSnapshotInterval, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := scaleUpDelay(tc.cfg)
			require.Equal(t, tc.scales, ok)
			require.Equal(t, tc.scaleUp, d)
			require.Equal(t, tc.every, snapshotEvery(tc.cfg))
			require.Equal(t, tc.deadline, snapshotTimeout(tc.cfg))
		})
	}
}
