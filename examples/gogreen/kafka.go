package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

// KafkaInput, when it names a topic, makes the job read the readings from
// that Kafka topic (msgpack-encoded fleet.Reading values, keyed by
// vehicle) instead of simulating them itself.
type KafkaInput struct {
	Brokers []string  `msgpack:"b"`
	Topic   string    `msgpack:"t"`
	From    time.Time `msgpack:"f"` // records written from then on
}

// readingsSource is where the job reads the readings: the simulation, or
// the Kafka topic.
func readingsSource(p Params) pipeline.Source[fleet.Reading] {
	if p.Kafka.Topic == "" {
		return fleet.Source(p.Fleet)
	}
	return sources.Kafka(sources.KafkaConfig{Brokers: p.Kafka.Brokers, Topics: []string{p.Kafka.Topic}, Start: sources.KafkaAt(p.Kafka.From)},
		func(r *kgo.Record) (fleet.Reading, error) {
			var rd fleet.Reading
			err := msgpack.Unmarshal(r.Value, &rd)
			return rd, err
		})
}

// kafkaOptions are the flags of the Kafka input.
type kafkaOptions struct {
	addr  string // "host:port" of a broker, "embedded", or "" for none
	topic string
	feed  bool
}

const embeddedKafka = "embedded"

func (k *kafkaOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&k.addr, "kafka", "", `read the readings from a Kafka topic: a broker's "host:port", or "embedded" for a Kafka broker (franz-go's kfake) started in this process`)
	fs.StringVar(&k.topic, "kafka-topic", "gogreen-readings", "the topic of the readings, with --kafka (created if missing)")
	fs.BoolVar(&k.feed, "kafka-feed", true, "with --kafka, write the simulated readings into the topic (false: something else writes them)")
}

func (k kafkaOptions) validate() error {
	switch {
	case k.addr == "":
		return nil
	case k.topic == "":
		return errors.New("--kafka-topic: want a topic name")
	case k.addr == embeddedKafka:
		return nil
	}
	if _, _, err := net.SplitHostPort(k.addr); err != nil {
		return fmt.Errorf("--kafka %q: want host:port or %q", k.addr, embeddedKafka)
	}
	return nil
}

// kafkaFeed is the Kafka side of a run: the embedded broker, if any, and
// the producer writing the simulated readings.
type kafkaFeed struct {
	broker *kfake.Cluster
	cl     *kgo.Client
	stop   context.CancelFunc
	wg     sync.WaitGroup
	sent   int64
	err    error        // the feed's error
	failed atomic.Value // the first write that failed
}

// startKafka sets p.Kafka up when --kafka is given: it starts the
// embedded broker, creates the topic if missing, and starts feeding it
// the simulated readings, paced as the simulation would be. Close stops
// it all.
func startKafka(ctx context.Context, k kafkaOptions, p *Params, stdout io.Writer) (*kafkaFeed, error) {
	f := &kafkaFeed{}
	if k.addr == "" {
		return f, nil
	}
	addr, where := k.addr, "at "+k.addr
	if addr == embeddedKafka {
		b, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, "127.0.0.1:"+port)
		}))
		if err != nil {
			return f, fmt.Errorf("start the embedded Kafka broker: %w", err)
		}
		f.broker = b
		addr, where = b.ListenAddrs()[0], "embedded in this process, at "+b.ListenAddrs()[0]
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(k.topic))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("kafka %s: %w", addr, err)
	}
	f.cl = cl
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Partitions for every job instance of a few members.
	resp, err := kadm.NewClient(cl).CreateTopic(cctx, 12, 1, nil, k.topic)
	if err == nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		err = resp.Err
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("kafka %s: create topic %s: %w", addr, k.topic, err)
	}
	p.Kafka = KafkaInput{Brokers: []string{addr}, Topic: k.topic, From: time.Now()}
	fmt.Fprintf(stdout, "readings from Kafka topic %s (broker %s)\n", k.topic, where)
	if !k.feed {
		return f, nil
	}
	fctx, stop := context.WithCancel(context.Background())
	f.stop = stop
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.err = p.Fleet.Feed(fctx, f.send)
		if errors.Is(f.err, context.Canceled) {
			f.err = nil
		}
	}()
	return f, nil
}

// send writes one step's readings, keyed by vehicle (each vehicle's in
// order, in one partition), without waiting for them.
func (f *kafkaFeed) send(rs []fleet.Reading) error {
	if err, _ := f.failed.Load().(error); err != nil {
		return fmt.Errorf("write readings to Kafka: %w", err)
	}
	for _, r := range rs {
		v, err := msgpack.Marshal(r)
		if err != nil {
			return err
		}
		f.cl.Produce(context.Background(), &kgo.Record{Key: []byte(r.Vehicle), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				f.failed.CompareAndSwap(nil, err)
			}
		})
		f.sent++
	}
	return nil
}

// Close stops feeding and the embedded broker, and returns the feed's
// error.
func (f *kafkaFeed) Close() error {
	if f.stop != nil {
		f.stop()
	}
	f.wg.Wait()
	if f.cl != nil {
		f.cl.Close()
	}
	if f.broker != nil {
		f.broker.Close()
	}
	return f.err
}

// sourceVertex is the name of the job's vertex that reads the readings.
func sourceVertex(p Params) string {
	if p.Kafka.Topic == "" {
		return "fleet"
	}
	return "kafka-" + p.Kafka.Topic
}
