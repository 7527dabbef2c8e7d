// Package kafkatest runs a Kafka cluster in the test process for the
// tests of the Kafka connectors: franz-go's kfake, a real implementation
// of the Kafka protocol (produce, fetch, transactions, read_committed),
// keeping its data in a directory of the test so that it can be stopped
// and started again on the same port with what it held.
package kafkatest

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is a one-broker Kafka cluster on 127.0.0.1.
type Broker struct {
	t    testing.TB
	dir  string
	port int

	mu sync.Mutex
	c  *kfake.Cluster // nil while stopped
}

// Start starts a broker on an ephemeral port; it stops at the end of the
// test.
func Start(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{t: t, dir: t.TempDir()}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Addr is the broker's "host:port".
func (b *Broker) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// Brokers is Addr as a list, for the connectors' configurations.
func (b *Broker) Brokers() []string { return []string{b.Addr()} }

// Stop stops the broker: its clients' connections break, and new ones are
// refused until Restart. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// Restart starts the stopped broker again on the same port, with the
// topics, records, transactions and group offsets it held.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for range 50 { // the port may linger for a moment after Stop
		b.c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(b.port), kfake.DataDir(b.dir),
			kfake.ListenFn(listenLoopback))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(b.t, err)
	if b.port == 0 {
		_, p, _ := net.SplitHostPort(b.c.ListenAddrs()[0])
		b.port, _ = strconv.Atoi(p)
	}
}

func listenLoopback(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	return net.Listen(network, "127.0.0.1:"+port)
}

// Client is a client of the broker, closed at the end of the test.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	require.NoError(b.t, err)
	b.t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic of n partitions.
func (b *Broker) CreateTopic(topic string, n int) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(b.Client())
	resp, err := adm.CreateTopic(ctx, int32(n), 1, nil, topic)
	require.NoError(b.t, err)
	require.NoError(b.t, resp.Err)
}

// AddPartitions grows a topic to n partitions.
func (b *Broker) AddPartitions(topic string, n int) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(b.Client())
	resp, err := adm.UpdatePartitions(ctx, n, topic)
	require.NoError(b.t, err)
	require.NoError(b.t, resp.Error())
}

// Produce writes records (their Topic set) and waits until all are
// acknowledged.
func (b *Broker) Produce(cl *kgo.Client, recs ...*kgo.Record) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(b.t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// marks numbers the end markers of ReadAll.
var marks atomic.Int64

// endKey is the key of the records ReadAll writes to find a topic's end.
const endKey = "kafkatest-end"

// ReadAll reads a topic from its start to its end as it is now, committed
// records only unless uncommitted, and returns its records. To find the
// end it writes a record keyed "kafkatest-end" (not returned) into every
// partition, and reads until it has seen them all: a read_committed read
// waits meanwhile for the transactions open before them to end.
func (b *Broker) ReadAll(topic string, uncommitted bool) []*kgo.Record {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	parts := b.Partitions(topic)
	w := b.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer w.Close()
	mark := []byte(strconv.FormatInt(marks.Add(1), 10))
	for p := range parts {
		b.Produce(w, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte(endKey), Value: mark})
	}
	level := kgo.ReadCommitted()
	if uncommitted {
		level = kgo.ReadUncommitted()
	}
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var out []*kgo.Record
	ended := map[int32]bool{}
	for len(ended) < parts {
		fs := cl.PollFetches(ctx)
		require.NoError(b.t, ctx.Err(), "reading %s: the end markers of %d of %d partitions never came", topic, parts-len(ended), parts)
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case string(r.Key) != endKey:
				if !ended[r.Partition] {
					out = append(out, r)
				}
			case string(r.Value) == string(mark):
				ended[r.Partition] = true
			}
		})
	}
	return out
}

// Partitions is the number of partitions of topic.
func (b *Broker) Partitions(topic string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(b.Client()).ListTopics(ctx, topic)
	require.NoError(b.t, err)
	d := details[topic]
	require.NoError(b.t, d.Err)
	return len(d.Partitions)
}

// Written is how many records topic holds, over all its partitions: the
// sum of their end offsets, transactional markers and records of open or
// aborted transactions included.
func (b *Broker) Written(topic string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(b.Client()).ListEndOffsets(ctx, topic)
	require.NoError(b.t, err)
	require.NoError(b.t, ends.Error())
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
