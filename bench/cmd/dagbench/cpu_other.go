//go:build !unix

package main

import "time"

// cpuTime is not measured on this system: the rows that need it say n/a.
func cpuTime() time.Duration { return 0 }
