//go:build !race

package member_test

const raceDetector = false
