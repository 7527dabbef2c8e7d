package testjobs

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// KafkaCountParams configures the Kafka counting job.
type KafkaCountParams struct {
	Brokers []string
	In, Out string // topics
	Group   string // consumer group the source commits to ("" for none)
}

// KafkaCount is the Kafka counting job: records of topic In, keyed by
// vehicle, counted per vehicle with keyed state, each count written to
// topic Out as a record keyed by the vehicle with the value
// "<vehicle>:<count>". With exactly-once, Out holds, for a vehicle with n
// records in In, the counts 1 to n exactly once each.
const KafkaCount = "testjobs.kafkacount"

// KafkaCountValue is the value of the record of vehicle's count.
func KafkaCountValue(vehicle string, count int64) string {
	return vehicle + ":" + strconv.FormatInt(count, 10)
}

func init() {
	dag.Register(KafkaCount, func(p KafkaCountParams) (*dag.DAG, error) {
		pl := pipeline.New()
		src := sources.Kafka(sources.KafkaConfig{Brokers: p.Brokers, Topics: []string{p.In}, Group: p.Group},
			func(r *kgo.Record) (string, error) { return string(r.Key), nil })
		vehicles := pipeline.ReadFrom(pl, src, pipeline.NoTimestamps[string]())
		counts := pipeline.RollingAggregate(pipeline.GroupBy(vehicles, func(v string) string { return v }), pipeline.Count[string]())
		pipeline.WriteTo(counts, sinks.Kafka(sinks.KafkaConfig[pipeline.KV[string, int64]]{
			Brokers: p.Brokers,
			Topic:   p.Out,
			Key:     func(kv pipeline.KV[string, int64]) []byte { return []byte(kv.Key) },
			Value:   func(kv pipeline.KV[string, int64]) []byte { return []byte(KafkaCountValue(kv.Key, kv.Value)) },
		}))
		return pl.Compile()
	})
}
