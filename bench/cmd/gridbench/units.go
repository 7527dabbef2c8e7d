package main

import (
	"fmt"
	"math"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// nan marks a reference that was not measured; the report prints it as n/a.
var nan = math.NaN()

// The units of gridbench's rows. The report never calls them with NaN.
var (
	opsUnit     = harness.PerSecond("ops")
	latencyUnit = harness.Nanoseconds
)

func bytesUnit(v float64) string { return fmt.Sprintf("%.1f B", v) }
