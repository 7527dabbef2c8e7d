package clustertest

import "time"

// PollUntil checks cond every 10 ms for up to d, as require.Eventually
// does, but on the calling goroutine (cond may call require).
func PollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
}
