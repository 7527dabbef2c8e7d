//go:build race

package clustertest

// raceEnabled: the race detector makes every test CPU-bound, so Parallel
// adds nothing to go test's default.
const raceEnabled = true
