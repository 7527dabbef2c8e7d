package main

import (
	"fmt"
	"math"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// nan marks a number that was not measured, or a reference that does not
// exist; the report prints it as n/a.
var nan = math.NaN()

// The units of dagbench's rows. The report never calls them with NaN.
var (
	itemsUnit  = harness.PerSecond("items")
	eventsUnit = harness.PerSecond("events")
)

func mbUnit(v float64) string { return fmt.Sprintf("%.1f MB/s", v/1e6) }

// latencyUnit is harness.Nanoseconds, and seconds from a second up:
// snapshots and a source's backlog can take that long.
func latencyUnit(v float64) string {
	if v >= 1e9 {
		return fmt.Sprintf("%.2fs", v/1e9)
	}
	return harness.Nanoseconds(v)
}

func countUnit(v float64) string { return fmt.Sprintf("%.1f", v) }

func bytesUnit(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.1f B", v)
}
