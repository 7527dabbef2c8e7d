package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// TestJobReadsKafka runs the job as --kafka embedded does: a bounded
// simulation written, keyed by vehicle, into a topic of a Kafka broker in
// this process, and the job reading that topic exactly-once. The fuel
// each truck burnt equals the plain computation over the same readings.
func TestJobReadsKafka(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"--kafka", "embedded", "--vehicles", "10", "--late-every", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	c := clustertest.Start(t, 2, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	matcher, err := fleet.StartMatcher("127.0.0.1:0", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = matcher.Close(); fleet.CloseClients() })

	p := o.params(matcher.URL)
	p.Fleet.Steps = 90 * fleet.StepsPerMinute // bounded: the feed ends
	p.Fleet.StepsPerSecond = 0                // and writes as fast as the broker takes it
	var out bytes.Buffer
	feed, err := startKafka(ctx, o.kafka, &p, &out)
	require.NoError(t, err)
	defer func() { require.NoError(t, feed.Close()) }()
	require.Contains(t, out.String(), "readings from Kafka topic gogreen-readings (broker embedded in this process, at 127.0.0.1:")
	require.NoError(t, prepare(ctx, m, p.Fleet))
	job, err := dag.Submit(ctx, m, JobName, p, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(200*time.Millisecond))
	require.NoError(t, err)
	defer func() { _ = job.Cancel(ctx) }()

	want := reference(p.Fleet, m.PartitionCount(), p.Fleet.ForEach)
	require.NotEmpty(t, want.fuel)
	var got results
	var diff string
	ok := clustertest.PollUntil(time.Minute, func() bool {
		got = readResults(ctx, t, m)
		diff = fuelDiff(want.fuel, got.fuel)
		return diff == ""
	})
	require.True(t, ok, "fuel burnt by truck, read from the topic: %s (late: %v)", diff, got.late)
	assert.Empty(t, got.late, "readings of a bounded, in-order feed counted late")
	// The source counts what it read in the job's current execution: one
	// restarted after the bounded feed was read (a member that flapped
	// under load) counts nothing more, and a member busy for a moment may
	// miss one look at the metrics.
	var s summary
	counted := clustertest.PollUntil(30*time.Second, func() bool {
		s, err = collect(ctx, m, job, p)
		require.NoError(t, err)
		return s.Readings > 0 || s.Job.Execution > 1
	})
	require.True(t, counted, "the job's Kafka source counts nothing of what it read (job %+v)", s.Job)
	if s.Job.Execution > 1 {
		t.Logf("the job restarted (execution %d) and its source counted %d readings since", s.Job.Execution, s.Readings)
	}
}

// fuelDiff says how got differs from want, "" if not (beyond float
// addition order).
func fuelDiff(want, got map[string]float64) string {
	for _, v := range slices.Sorted(maps.Keys(want)) {
		if abs(want[v]-got[v]) > 1e-6 {
			return fmt.Sprintf("%s: %v L, want %v L", v, got[v], want[v])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d trucks, want %d", len(got), len(want))
	}
	return ""
}

func TestBadKafkaFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--kafka", "nohost"}, {"--kafka", "embedded", "--kafka-topic", ""}} {
		var out, errs bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errs), "%v", args)
		assert.Contains(t, errs.String(), "gogreen: --kafka", "%v", args)
	}
}
