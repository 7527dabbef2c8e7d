//go:build race

package member_test

// raceDetector is set when the tests run with the race detector, whose
// sync.Pool drops a quarter of what it is given, on purpose.
const raceDetector = true
