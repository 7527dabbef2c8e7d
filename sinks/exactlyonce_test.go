package sinks_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// TestExactlyOnceThroughAMemberCrash runs the counting job (map journal ->
// count per key -> map sink, and -> two-phase-commit file sink) with
// exactly-once snapshots every 100 ms while a member crashes: the counts in
// the map and the lines in the committed files equal the input exactly.
// (The tests in internal/testkit/chaos do the same to processes with kill -9.)
func TestExactlyOnceThroughAMemberCrash(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	j := jobtest.StartCount(t, ms[0], dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval), dag.WithScaleUpDelay(-1))
	before := j.Info()
	ms[2].Terminate() // a crash, not a leave
	j.WaitRecovered(before, []string{ms[0].ID(), ms[1].ID()})
	require.Zero(t, j.Finish(true))
}
