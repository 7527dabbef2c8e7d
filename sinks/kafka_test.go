package sinks_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/kafkatest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// kafkaOpts are the options of the Kafka counting job in these tests.
func kafkaOpts(g dag.Guarantee) []dag.JobOption {
	return []dag.JobOption{dag.WithGuarantee(g), dag.WithSnapshotInterval(100 * time.Millisecond), dag.WithScaleUpDelay(-1)}
}

// TestKafkaExactlyOnceThroughACrash runs the Kafka counting job (topic ->
// count per key -> topic, by transactions) exactly-once on three members,
// one of which crashes while records flow: a read_committed read of the
// output holds every count once. (internal/testkit/chaos does the same to
// member processes with kill -9.)
func TestKafkaExactlyOnceThroughACrash(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	j := jobtest.StartKafkaCount(t, b, ms[0], 500, kafkaOpts(dag.ExactlyOnce)...)
	j.FeedWhile(func() {
		j.WaitSnapshots(3) // records flow through snapshots
		before := j.Info()
		ms[2].Terminate()
		j.WaitRecovered(before, []string{ms[0].ID(), ms[1].ID()})
	})
	j.Check(true)
}

// TestKafkaAtLeastOnceThroughACrash runs the same job at-least-once: no
// count is missing, and the counts the restart wrote again are reported.
func TestKafkaAtLeastOnceThroughACrash(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	j := jobtest.StartKafkaCount(t, b, ms[0], 500, kafkaOpts(dag.AtLeastOnce)...)
	j.FeedWhile(func() {
		j.WaitSnapshots(3) // records flow through snapshots
		before := j.Info()
		ms[2].Terminate()
		j.WaitRecovered(before, []string{ms[0].ID(), ms[1].ID()})
	})
	repeats := j.Check(false)
	t.Logf("at-least-once: %d counts written more than once after the crash", repeats)
}

// TestKafkaBrokerAway stops the broker while the exactly-once job runs
// and starts it again on the same port: the job waits for it (or
// restarts from its snapshot) and its output is still exactly once.
func TestKafkaBrokerAway(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	c := clustertest.Start(t, 1, member.Config{})
	j := jobtest.StartKafkaCount(t, b, c.Members()[0], 300, kafkaOpts(dag.ExactlyOnce)...)
	j.Feed(300) // in flight while the broker goes
	b.Stop()
	<-time.After(time.Second) // the outage: ten snapshot intervals
	b.Restart()
	j.Feed(300)
	j.WaitSnapshots(2)
	j.Check(true)
	require.Equal(t, dag.Running, j.Info().Status)
}

// KafkaItems writes 0..N-1 into a Kafka topic with a key, headers and a
// chosen partition, then ends.
type KafkaItems struct {
	Brokers []string
	Topic   string
	N       int
}

const kafkaItemsJob = "sinks-test.kafka-items"

func init() {
	dag.Register(kafkaItemsJob, func(p KafkaItems) (*dag.DAG, error) {
		pl := pipeline.New()
		items := pipeline.ReadFrom(pl, sources.Items(ints(p.N)...), pipeline.NoTimestamps[int]())
		pipeline.WriteTo(items, sinks.Kafka(sinks.KafkaConfig[int]{
			Brokers: p.Brokers,
			Topic:   p.Topic,
			Key:     func(i int) []byte { return []byte("k" + strconv.Itoa(i)) },
			Value:   func(i int) []byte { return []byte(strconv.Itoa(i)) },
			Headers: func(i int) []kgo.RecordHeader {
				return []kgo.RecordHeader{{Key: "parity", Value: []byte(strconv.Itoa(i % 2))}}
			},
			Partition: func(i int) int32 { return int32(i % 2) },
		}))
		return pl.Compile()
	})
}

// TestKafkaSinkCompletes runs a bounded job into a Kafka topic, with each
// guarantee: when it completes, the topic holds every item once, with the
// key, headers and partition the functions gave.
func TestKafkaSinkCompletes(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	c := clustertest.Start(t, 2, member.Config{})
	for _, g := range []dag.Guarantee{dag.None, dag.AtLeastOnce, dag.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			p := KafkaItems{Brokers: b.Brokers(), Topic: fmt.Sprintf("items-%d", g), N: 1000}
			b.CreateTopic(p.Topic, 2)
			require.NoError(t, run(t, c.Members()[0], kafkaItemsJob, p, dag.WithGuarantee(g), dag.WithSnapshotInterval(10*time.Millisecond)))
			var got []int
			for _, r := range b.ReadAll(p.Topic, false) {
				i, err := strconv.Atoi(string(r.Value))
				require.NoError(t, err)
				require.Equal(t, "k"+string(r.Value), string(r.Key))
				require.Equal(t, int32(i%2), r.Partition)
				require.Equal(t, []kgo.RecordHeader{{Key: "parity", Value: []byte(strconv.Itoa(i % 2))}}, r.Headers)
				got = append(got, i)
			}
			slices.Sort(got)
			require.Equal(t, ints(p.N), got)
		})
	}
}

// TestKafkaSinkBadConfig: every problem of a configuration is reported
// when the job starts.
func TestKafkaSinkBadConfig(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	err := run(t, c.Members()[0], kafkaItemsJob, KafkaItems{N: 1})
	require.ErrorContains(t, err, "no brokers")
	require.ErrorContains(t, err, "no topic")
}
