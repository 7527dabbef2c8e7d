package dag

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// The job coordinator's timing decisions, apart from the waiting: how long
// it pauses between failed restarts, how long after members joined it
// scales a job up, how often it snapshots and how long a snapshot may wait
// for acknowledgements. coordinate.go, restart.go and snapcoord.go wait on
// the member's Config.Clock, so a test that gives the member a fake clock
// steps these instead of waiting for them.

const (
	firstRestartBackoff = 50 * time.Millisecond
	maxRestartBackoff   = 2 * time.Second
	minSnapshotTimeout  = 30 * time.Second
)

// nextRestartBackoff is the pause after a restart that failed while the
// cluster kept changing, given the pause before it (0 for the first):
// 50 ms, doubling up to 2 s, so a restart waiting for a failure to be
// detected retries soon and one that keeps failing does not spin.
func nextRestartBackoff(prev time.Duration) time.Duration {
	if prev <= 0 {
		return firstRestartBackoff
	}
	return min(2*prev, maxRestartBackoff)
}

// scaleUpDelay is how long after members joined a running job restarts on
// them; ok is false when it never does.
func scaleUpDelay(c JobConfig) (delay time.Duration, ok bool) {
	switch {
	case c.ScaleUpDelay < 0:
		return 0, false
	case c.ScaleUpDelay == 0:
		return DefaultScaleUpDelay, true
	}
	return c.ScaleUpDelay, true
}

// snapshotEvery is how often a job with a processing guarantee snapshots.
func snapshotEvery(c JobConfig) time.Duration {
	if c.SnapshotInterval <= 0 {
		return DefaultSnapshotInterval
	}
	return c.SnapshotInterval
}

// snapshotTimeout is how long a snapshot waits for every processor's
// acknowledgement; then it is aborted, the last complete snapshot stands,
// and the job runs on until the next one. Three intervals, and never less
// than 30 s: a processor busy with a large batch is not a failed one.
func snapshotTimeout(c JobConfig) time.Duration {
	return max(minSnapshotTimeout, 3*c.SnapshotInterval)
}

// clock is the member's clock, real unless a test gave it a fake one.
func (s *service) clock() clockwork.Clock { return s.m.Config().Clock }
