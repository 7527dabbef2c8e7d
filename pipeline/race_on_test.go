//go:build race

package pipeline_test

// raceDetector is set when the tests run with the race detector, which
// makes a job several times slower and changes what the heap holds.
const raceDetector = true
