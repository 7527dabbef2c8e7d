package sources_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/kafkatest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// KafkaJob reads a Kafka topic: with Window, it counts the records in
// tumbling windows of a second of their timestamps (native times, no lag,
// idle after 200 ms); otherwise it passes the records' values on. Either
// way into the collector Collect.
type KafkaJob struct {
	Brokers []string
	Topic   string
	Window  bool
	Collect string
}

const kafkaJob = "sources-test.kafka"

func init() {
	dag.Register(kafkaJob, func(p KafkaJob) (*dag.DAG, error) {
		pl := pipeline.New()
		cfg := sources.KafkaConfig{Brokers: p.Brokers, Topics: []string{p.Topic}, Discover: 100 * time.Millisecond}
		src := sources.Kafka(cfg, func(r *kgo.Record) (string, error) { return string(r.Value), nil })
		if !p.Window {
			pipeline.WriteTo(pipeline.ReadFrom(pl, src, pipeline.NoTimestamps[string]()), sinks.Collect[string](p.Collect))
			return pl.Compile()
		}
		recs := pipeline.ReadFrom(pl, src, pipeline.NativeTime[string](0).IdleTimeout(200*time.Millisecond))
		counts := pipeline.AggregateWindow(pipeline.WindowAll(recs, pipeline.Tumbling(time.Second)), pipeline.Count[string]())
		pipeline.WriteTo(pipeline.Map(counts, func(w pipeline.WindowResult[struct{}, int64]) string {
			return strconv.FormatInt(w.Start.Unix(), 10) + ":" + strconv.FormatInt(w.Value, 10)
		}), sinks.Collect[string](p.Collect))
		return pl.Compile()
	})
}

// at is a record of partition p with timestamp second sec (unix).
func at(topic string, p int32, sec int64) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: p, Timestamp: time.Unix(sec, 0), Value: []byte(strconv.FormatInt(sec, 10))}
}

// TestKafkaIdlePartition reads a topic of two partitions, one of them
// empty, in event-time windows: the empty partition goes idle and does not
// hold the watermark back, so windows close on the other's times alone,
// also when both go quiet at once; when the empty one returns, its records
// close windows again.
func TestKafkaIdlePartition(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	b.CreateTopic("times", 2)
	w := b.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	c := clustertest.Start(t, 1, member.Config{})
	coll, err := sinks.NewCollector[string](t.Name())
	require.NoError(t, err)
	defer coll.Close()
	const t0 = 1_700_000_000
	for s := range int64(5) { // windows t0 .. t0+4 on partition 0; 1 stays empty
		b.Produce(w, at("times", 0, t0+s), at("times", 0, t0+s))
	}
	// One reader for both partitions: the watermark is that reader's
	// minimum over its partitions.
	submit(t, c.Members()[0], kafkaJob, KafkaJob{Brokers: b.Brokers(), Topic: "times", Window: true, Collect: t.Name()}, dag.WithLocalParallelism(1))
	got, err := coll.WaitLen(ctxT(t, time.Minute), 4)
	require.NoError(t, err, "%v", coll.Items())
	require.Equal(t, []string{"1700000000:2", "1700000001:2", "1700000002:2", "1700000003:2"}, got, "windows closed by partition 0 alone")

	// Both partitions are quiet now, the source idle. Partition 1
	// returns: its records are not late (the watermark stands at
	// partition 0's last second), and its times close windows again,
	// partition 0's last one and its own first.
	b.Produce(w, at("times", 1, t0+5), at("times", 1, t0+5), at("times", 1, t0+5), at("times", 1, t0+6))
	got, err = coll.WaitLen(ctxT(t, time.Minute), 6)
	require.NoError(t, err, "%v", coll.Items())
	require.Equal(t, []string{"1700000004:2", "1700000005:3"}, got[4:], "windows closed after partition 1 returned")
}

// TestKafkaPartitionsAdded: partitions added to a topic while the job
// reads it are found and read from their first record.
func TestKafkaPartitionsAdded(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	b.CreateTopic("grows", 1)
	w := b.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	c := clustertest.Start(t, 2, member.Config{})
	coll, err := sinks.NewCollector[string](t.Name())
	require.NoError(t, err)
	defer coll.Close()
	b.Produce(w, &kgo.Record{Topic: "grows", Partition: 0, Value: []byte("p0-a")})
	submit(t, c.Members()[0], kafkaJob, KafkaJob{Brokers: b.Brokers(), Topic: "grows", Collect: t.Name()})
	_, err = coll.WaitLen(ctxT(t, time.Minute), 1)
	require.NoError(t, err)

	b.AddPartitions("grows", 4)
	w = b.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())) // one that knows the new partitions
	var want []string
	for p := range int32(4) {
		v := "p" + strconv.Itoa(int(p)) + "-b"
		want = append(want, v)
		b.Produce(w, &kgo.Record{Topic: "grows", Partition: p, Value: []byte(v)})
	}
	got, err := coll.WaitLen(ctxT(t, time.Minute), 5)
	require.NoError(t, err)
	want = append(want, "p0-a")
	slices.Sort(want)
	slices.Sort(got)
	require.Equal(t, want, got)
}
