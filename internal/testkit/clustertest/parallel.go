package clustertest

import (
	"flag"
	"runtime"
	"strconv"
)

// Parallel lets up to n tests marked t.Parallel run at once in the calling
// package, unless the command line sets -test.parallel itself. Call it
// from TestMain before m.Run. go test's default is GOMAXPROCS, which suits
// tests that compute; cluster tests mostly wait on the network and on the
// failure detector's timers, so on a 2-core machine two at a time leaves
// the package's wall time the sum of its waits. Under the race detector,
// whose instrumentation keeps the CPU busy, it leaves the default.
func Parallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if set || raceEnabled || n <= runtime.GOMAXPROCS(0) {
		return
	}
	_ = flag.Set("test.parallel", strconv.Itoa(n))
}
