package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
	"github.com/weir-dev/weir/sources"
)

// kafkaInterval is how often workload 9's exactly-once runs snapshot.
const kafkaInterval = time.Second

// kafkaPartitions is the number of partitions of workload 9's topics.
const kafkaPartitions = 4

// kafkaRec is a record passed through workload 9's job: key and value.
type kafkaRec struct {
	K []byte `msgpack:"k"`
	V []byte `msgpack:"v"`
}

// kafkaMap is the map of workload 9, in the job and the reference alike.
func kafkaMap(v []byte) []byte { return bytes.ToUpper(v) }

type kafkaMapParams struct {
	Brokers []string
	In, Out string
	Run     string
}

// kafkaWritten counts, by run, the records the job's sink wrote.
var kafkaWritten sync.Map // run -> *atomic.Int64

func init() {
	dag.Register("dagbench.kafka-map", func(p kafkaMapParams) (*dag.DAG, error) {
		c, _ := kafkaWritten.Load(p.Run)
		written, _ := c.(*atomic.Int64)
		if written == nil {
			written = new(atomic.Int64) // on a member of another process: not counted
		}
		pl := pipeline.New()
		recs := pipeline.ReadFrom(pl, sources.Kafka(sources.KafkaConfig{Brokers: p.Brokers, Topics: []string{p.In}},
			func(r *kgo.Record) (kafkaRec, error) { return kafkaRec{K: r.Key, V: r.Value}, nil }), pipeline.NoTimestamps[kafkaRec]())
		mapped := pipeline.Map(recs, func(r kafkaRec) kafkaRec { return kafkaRec{K: r.K, V: kafkaMap(r.V)} })
		pipeline.WriteTo(mapped, sinks.Kafka(sinks.KafkaConfig[kafkaRec]{
			Brokers: p.Brokers, Topic: p.Out,
			Key:   func(r kafkaRec) []byte { return r.K },
			Value: func(r kafkaRec) []byte { written.Add(1); return r.V },
		}))
		return pl.Compile()
	})
}

// kafkaWorkload measures workload 9: a topic of records read by a job,
// mapped and written to another topic, against a plain franz-go consume
// -> produce loop doing the same, both against one Kafka broker (kfake) in
// this process; and the job exactly-once with a snapshot every second
// against the job with no guarantee.
func kafkaWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("9. Kafka: %d records of %d bytes per run, topic (%d partitions) -> Map -> topic, 1 member; reference: a franz-go consume -> produce loop; broker: kfake in this process",
		cfg.kafkaRecords, kafkaValueSize, kafkaPartitions)}
	var ref, none, exactly measured
	var snaps []uint64
	var bad string
	var firstErr error
	prof.During("kafka", func() {
		firstErr = runKafka(ctx, cfg, &ref, &none, &exactly, &snaps, &bad)
	})
	err := firstErr
	if err == nil {
		err = errors.Join(ref.err, none.err, exactly.err)
	}
	sec.Rows = append(sec.Rows,
		harness.RatioRow("records/s, no guarantee vs the franz-go loop", none.perSec(), ref.perSec(), itemsUnit, harness.AtLeast(0.5), err),
		harness.RatioRow("records/s, exactly-once (snapshot every 1s) vs no guarantee", exactly.perSec(), none.perSec(), itemsUnit, harness.AtLeast(0.9), err),
		harness.RatioRow("records/s, exactly-once vs the franz-go loop", exactly.perSec(), ref.perSec(), itemsUnit, harness.NoTarget, err),
		harness.RatioRow("records per CPU-second, no guarantee vs the loop", none.perCPUSec(), ref.perCPUSec(), itemsUnit, harness.NoTarget, err),
		harness.RatioRow("records per CPU-second, exactly-once vs no guarantee", exactly.perCPUSec(), none.perCPUSec(), itemsUnit, harness.NoTarget, err),
		harness.RatioRow("snapshots per exactly-once run", meanOf(snaps), nan, countUnit, harness.NoTarget, err),
		harness.CheckRow("every record written once by the sink, every run", bad == "", fmt.Sprintf("%d records", cfg.kafkaRecords), err))
	if bad != "" {
		sec.Notes = append(sec.Notes, bad)
		if firstErr == nil {
			firstErr = errors.New(bad)
		}
	}
	sec.Notes = append(sec.Notes,
		fmt.Sprintf("%d alternating rounds (loop, none, exactly-once), after an unmeasured run of each over a tenth of the records; each run writes a new output topic, deleted after it", cfg.rounds),
		"the loop's time runs from creating its clients to the flush of its last record; the job's from Submit until its sink has written every record and the output topic's end offsets reach their number (exactly-once, that end counts the transactions' markers too, at most a few per partition and snapshot, and the last records wait for no commit); the unbounded job is cancelled then, outside the time",
		"kfake, the broker, runs in this process and takes CPU from both sides alike; records per CPU-second divide by the whole process's CPU time")
	return []harness.Section{sec}, firstErr
}

const kafkaValueSize = 100

// runKafka starts the broker and the member and runs the rounds.
func runKafka(ctx context.Context, cfg config, ref, none, exactly *measured, snaps *[]uint64, bad *string) error {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(listenLoopback))
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	if err := createTopic(ctx, admin, "in"); err != nil {
		return err
	}
	if err := preload(ctx, adm, cfg.kafkaRecords); err != nil {
		return err
	}
	c, err := startCluster(ctx, "kafka", 1)
	if err != nil {
		return err
	}
	defer c.Stop()
	m := c.Members[0]
	once := func(round int, n int64, res *measured, g dag.Guarantee, loop bool) {
		id := runID("kafka", round)
		out := "out-" + id
		if err := createTopic(ctx, admin, out); err != nil {
			res.add(0, 0, err)
			return
		}
		defer func() { _, _ = admin.DeleteTopics(context.Background(), out) }()
		var d, cpu time.Duration
		var got int64
		var info dag.JobInfo
		if loop {
			cpu = cpuTime()
			d = reference(func() { got, err = kafkaLoop(ctx, brokers, out, n) })
			cpu = cpuTime() - cpu
		} else {
			cpu = cpuTime()
			d, got, info, err = kafkaJob(ctx, m, admin, kafkaMapParams{Brokers: brokers, In: "in", Out: out, Run: id}, n, g)
			cpu = cpuTime() - cpu
		}
		res.add(float64(n), d, err)
		if err != nil {
			return
		}
		res.cpu += cpu
		// A warm-up run stops after a tenth of the records, of a topic
		// holding them all: only full runs are checked.
		if n == cfg.kafkaRecords && got != n && *bad == "" {
			*bad = fmt.Sprintf("run %s: %d records written, want %d", id, got, n)
		}
		if g == dag.ExactlyOnce && !loop {
			*snaps = append(*snaps, info.Snapshots)
		}
	}
	var warm measured
	for _, g := range []dag.Guarantee{dag.None, dag.ExactlyOnce} {
		once(0, max(cfg.kafkaRecords/10, 1), &warm, g, false)
	}
	once(0, max(cfg.kafkaRecords/10, 1), &warm, dag.None, true)
	if warm.err != nil {
		return fmt.Errorf("warm-up: %w", warm.err)
	}
	alternate(cfg.rounds,
		func(round int) { once(round, cfg.kafkaRecords, ref, dag.None, true) },
		func(round int) { once(round, cfg.kafkaRecords, none, dag.None, false) },
		func(round int) { once(round, cfg.kafkaRecords, exactly, dag.ExactlyOnce, false) })
	return nil
}

func listenLoopback(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	return net.Listen(network, "127.0.0.1:"+port)
}

func createTopic(ctx context.Context, admin *kadm.Client, topic string) error {
	resp, err := admin.CreateTopic(ctx, kafkaPartitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// preload writes n records into topic "in": keys of 1000 vehicles, values
// of kafkaValueSize bytes.
func preload(ctx context.Context, cl *kgo.Client, n int64) error {
	value := bytes.Repeat([]byte("reading;"), kafkaValueSize/8+1)[:kafkaValueSize]
	var first atomic.Value
	for i := range n {
		rec := &kgo.Record{Topic: "in", Key: []byte("vehicle-" + strconv.FormatInt(i%1000, 10)), Value: value}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				first.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, _ := first.Load().(error); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	return nil
}

// kafkaLoop is the reference: a franz-go consumer reading topic "in" from
// its start, a franz-go producer writing each record, mapped, to out,
// until n are read and every write is acknowledged. It returns how many
// it wrote.
func kafkaLoop(ctx context.Context, brokers []string, out string, n int64) (int64, error) {
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(out))
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	var read int64
	var written atomic.Int64
	var first atomic.Value
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			first.CompareAndSwap(nil, err)
			return
		}
		written.Add(1)
	}
	for read < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if read < n {
				read++
				prod.Produce(ctx, &kgo.Record{Key: r.Key, Value: kafkaMap(r.Value)}, done)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return 0, err
	}
	if err, _ := first.Load().(error); err != nil {
		return 0, err
	}
	return written.Load(), nil
}

// kafkaJob runs workload 9's job with guarantee g until its sink has
// written n records and the output topic holds them, then cancels it.
func kafkaJob(ctx context.Context, m *member.Member, admin *kadm.Client, p kafkaMapParams, n int64, g dag.Guarantee) (time.Duration, int64, dag.JobInfo, error) {
	written := new(atomic.Int64)
	kafkaWritten.Store(p.Run, written)
	defer kafkaWritten.Delete(p.Run)
	opts := []dag.JobOption{dag.WithGuarantee(g)}
	if g != dag.None {
		opts = append(opts, dag.WithSnapshotInterval(kafkaInterval))
	}
	start := time.Now()
	job, err := dag.Submit(ctx, m, "dagbench.kafka-map", p, opts...)
	if err != nil {
		return 0, 0, dag.JobInfo{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = job.Cancel(cctx)
		_ = job.Wait(cctx)
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for written.Load() < n {
		select {
		case <-ctx.Done():
			return 0, 0, dag.JobInfo{}, ctx.Err()
		case <-tick.C:
		}
	}
	for {
		ends, err := admin.ListEndOffsets(ctx, p.Out)
		if err != nil {
			return 0, 0, dag.JobInfo{}, err
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		if sum >= n {
			break
		}
		if info, err := job.Info(ctx); err == nil && info.Status != dag.Running {
			return 0, 0, info, fmt.Errorf("the job stopped: %s %s", info.Status, info.Error)
		}
	}
	d := time.Since(start)
	info, err := job.Info(ctx)
	return d, written.Load(), info, err
}
