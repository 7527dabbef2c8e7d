package sinks

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// KafkaConfig configures a Kafka sink of items of type T.
type KafkaConfig[T any] struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// Topic is the topic records are written to.
	Topic string
	// Value makes a record's value of an item (required); Key its key
	// (nil: no key) and Headers its headers (nil: none).
	Value   func(T) []byte
	Key     func(T) []byte
	Headers func(T) []kgo.RecordHeader
	// Partition, when set, chooses a record's partition; otherwise the
	// key does (murmur2, as Kafka's Java clients), and records without a
	// key spread over the partitions.
	Partition func(T) int32
	// TransactionalID is the prefix of the transactional IDs of an
	// exactly-once sink: instance i uses "<prefix>-<i>-<slot>". It must
	// stay the same across the job's restarts (it does by default:
	// "weir-<job id>-<vertex>") and differ from every other producer's.
	// Set it to fence, at its start, what a previous submission of the
	// same job left open.
	TransactionalID string
	// TransactionTimeout is how long the broker keeps a transaction open
	// before it aborts it (default 15 min, Kafka's largest by default). A
	// snapshot's output is lost if the job takes longer than that to
	// restore after a failure that happened between the snapshot's
	// completion and its commit: keep it well above the snapshot interval
	// plus a restart.
	TransactionTimeout time.Duration
	// Options are passed to franz-go's client as they are: SASL
	// (kgo.SASL), TLS (kgo.DialTLSConfig), linger, batch sizes, ... The
	// sink sets the brokers, the topic, the partitioner (with Partition)
	// and, exactly-once, the transactional ID and timeout.
	Options []kgo.Opt
}

func (c KafkaConfig[T]) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if c.Value == nil {
		errs = append(errs, errors.New("no Value function"))
	}
	if c.TransactionTimeout < 0 {
		errs = append(errs, fmt.Errorf("negative transaction timeout %v", c.TransactionTimeout))
	}
	return errors.Join(errs...)
}

// Kafka writes every item as a record into a Kafka topic.
//
// In a job with dag.ExactlyOnce it is exactly-once, by Kafka transactions
// tied to the job's two-phase snapshot protocol: what an instance writes
// after a snapshot's barrier goes into an open transaction; the next
// barrier flushes it (prepare) and saves its producer ID and epoch in the
// snapshot; it commits when that snapshot completes in the whole cluster.
// A job restored from a snapshot commits what the snapshot prepared (with
// the saved producer ID and epoch, as Flink's KafkaSink resumes a
// transaction), then fences its transactional IDs, which aborts what the
// failed execution wrote after it: the new execution writes that again.
// A read_committed consumer (sources.Kafka, or kgo.ReadCommitted) sees
// each record once; a read_uncommitted one sees aborted records too.
// Output becomes visible at snapshot commits, one snapshot interval
// behind.
//
// Otherwise it is at least once: records are written by franz-go's
// idempotent producer (no duplicates from its own retries), and flushed on
// every snapshot's barrier; after a restart, the records since the last
// snapshot are written again.
//
//	sinks.Kafka(sinks.KafkaConfig[Total]{Brokers: brokers, Topic: "totals",
//		Key: func(t Total) []byte { return []byte(t.Vehicle) }, Value: Total.JSON})
func Kafka[T any](cfg KafkaConfig[T]) pipeline.Sink[T] {
	return pipeline.NewSink("kafka-"+cfg.Topic, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		if err := cfg.validate(); err != nil {
			return nil, fmt.Errorf("kafka sink: %w", err)
		}
		if cfg.TransactionTimeout == 0 {
			cfg.TransactionTimeout = 15 * time.Minute
		}
		if cfg.TransactionalID == "" {
			cfg.TransactionalID = "weir-" + ctx.JobID + "-" + ctx.Vertex
		}
		w := &kafkaWriter[T]{cfg: cfg, exactly: ctx.Guarantee == dag.ExactlyOnce}
		w.ctx, w.jobCtx, w.log, w.index, w.total = ctx, ctx.Context(), ctx.Logger, ctx.GlobalIndex, ctx.TotalParallelism
		w.topic, w.prefix, w.timeout = cfg.Topic, cfg.TransactionalID, cfg.TransactionTimeout
		w.opts = append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.Topic)}, cfg.Options...)
		if cfg.Partition != nil {
			w.opts = append(w.opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		}
		if !w.exactly {
			cl, err := kgo.NewClient(w.opts...)
			if err != nil {
				return nil, fmt.Errorf("kafka sink: %w", err)
			}
			w.plain = cl
		}
		w.promise = func(_ *kgo.Record, err error) {
			if err != nil {
				w.failed.CompareAndSwap(nil, &err)
			}
		}
		return w, nil
	})
}

type kafkaWriter[T any] struct {
	kafkaTxns // the client options, and the exactly-once state

	ctx     *dag.Context
	cfg     KafkaConfig[T]
	exactly bool
	plain   *kgo.Client // the at-least-once producer
	promise func(*kgo.Record, error)
}

func (w *kafkaWriter[T]) record(v T) *kgo.Record {
	r := &kgo.Record{Value: w.cfg.Value(v)}
	if w.cfg.Key != nil {
		r.Key = w.cfg.Key(v)
	}
	if w.cfg.Headers != nil {
		r.Headers = w.cfg.Headers(v)
	}
	if w.cfg.Partition != nil {
		r.Partition = w.cfg.Partition(v)
	}
	return r
}

func (w *kafkaWriter[T]) Write(items []T) error {
	cl := w.plain
	if w.exactly {
		var err error
		if cl, err = w.openTxn(); err != nil {
			return err
		}
	}
	if err := w.err(); err != nil {
		return err
	}
	ctx := w.ctx.Context()
	for _, v := range items {
		cl.Produce(ctx, w.record(v), w.promise)
	}
	return nil
}

// Prepare flushes: at least once, so that the snapshot covers only records
// the brokers have; exactly-once, to prepare the open transaction.
func (w *kafkaWriter[T]) Prepare(s *dag.SnapshotWriter) error {
	if w.exactly {
		return w.prepare(s)
	}
	if err := w.plain.Flush(w.ctx.Context()); err != nil {
		return fmt.Errorf("kafka sink: flush: %w", err)
	}
	return w.err()
}

func (w *kafkaWriter[T]) CommitSnapshot(id uint64) error {
	if w.exactly {
		return w.commit(id)
	}
	return nil
}

func (w *kafkaWriter[T]) RestoreSnapshot(key, value []byte) error {
	k, v, err := dag.LoadEntry[string, kafkaSaved](key, value)
	if err != nil {
		return err
	}
	if strings.HasPrefix(k, kafkaSavedPrefix) {
		w.restored = append(w.restored, v)
	}
	return nil
}

func (w *kafkaWriter[T]) FinishRestore() error {
	if !w.exactly {
		return nil
	}
	return w.settle()
}

// Close, when the job completed, commits what it wrote; after a failure
// or a cancellation it aborts the open transaction and leaves the prepared
// ones for a restore to commit or abort (they are aborted by the broker
// after TransactionTimeout otherwise).
func (w *kafkaWriter[T]) Close() error {
	if !w.exactly {
		defer w.plain.Close()
		if w.ctx.Context().Err() != nil {
			return nil
		}
		if err := w.plain.Flush(w.ctx.Context()); err != nil {
			return fmt.Errorf("kafka sink: flush: %w", err)
		}
		return w.err()
	}
	return w.close()
}
