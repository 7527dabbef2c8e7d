package testjobs

import "github.com/weir-dev/weir/grid"

// Add is an entry processor for counters: it adds its argument to the
// int64 under the key (0 if absent) and returns the sum. The nemesis tests
// count with it on member processes, which link this package.
var Add = grid.RegisterProcessor("testjobs.add", func(_ string, v int64, _ bool, delta int64) (int64, grid.Action, int64, error) {
	return v + delta, grid.Set, v + delta, nil
})
