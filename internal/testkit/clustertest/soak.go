package clustertest

import (
	"os"
	"testing"
	"time"
)

// SoakEnv is the switch for long soak and chaos runs: set it to a duration
// (WEIR_SOAK=3m) and the soak tests run for that long; unset, they are
// skipped, so that go test ./... stays quick. .ci/run turns it on for a
// bounded time.
const SoakEnv = "WEIR_SOAK"

// Soak returns how long a soak test should run, and skips the test when
// WEIR_SOAK is unset or in -short mode. A value that is not a positive
// duration fails the test, naming the variable.
func Soak(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv(SoakEnv)
	if v == "" || testing.Short() {
		t.Skipf("a soak test: set %s to a duration (e.g. %s=2m) to run it", SoakEnv, SoakEnv)
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 2m", SoakEnv, v)
	}
	return d
}
