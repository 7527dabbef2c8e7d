package jobtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/kafkatest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// KafkaCount is a running Kafka counting job (testjobs.KafkaCount): its input
// topic fed by the test, its output read back and checked.
type KafkaCount struct {
	Watch
	B      *kafkatest.Broker
	Params testjobs.KafkaCountParams
	w      *kgo.Client
	sent   map[string]int64 // records fed, by vehicle
	fed    int
}

// StartKafkaCount creates the input topic (4 partitions) and the output topic
// (3), feeds n records, and submits the counting job through m with opts;
// with a guarantee, it waits for the job's first two snapshots. Test
// cleanup cancels the job.
func StartKafkaCount(t testing.TB, b *kafkatest.Broker, m member.Services, n int, opts ...dag.JobOption) *KafkaCount {
	t.Helper()
	c := &KafkaCount{Watch: Watch{T: t}, B: b, sent: map[string]int64{},
		Params: testjobs.KafkaCountParams{Brokers: b.Brokers(), In: "readings", Out: "counts"}}
	b.CreateTopic(c.Params.In, 4)
	b.CreateTopic(c.Params.Out, 3)
	c.w = b.Client()
	c.Feed(n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := dag.Submit(ctx, m, testjobs.KafkaCount, c.Params, opts...)
	require.NoError(t, err)
	c.Job = job
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = job.Cancel(ctx)
	})
	if c.Info().Config.Guarantee != dag.None {
		c.WaitSnapshots(2)
	}
	return c
}

// Feed writes n more records into the input topic, cycling through the
// vehicles, and waits until they are acknowledged.
func (c *KafkaCount) Feed(n int) {
	c.T.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := testjobs.VehicleName(c.fed % testjobs.Vehicles)
		c.fed++
		c.sent[v]++
		recs[i] = &kgo.Record{Topic: c.Params.In, Key: []byte(v)}
	}
	c.B.Produce(c.w, recs...)
}

// FeedWhile feeds records in batches of ten, as fast as the broker takes
// them, until during returns; the records are in flight while during
// runs (a crash, a restart).
func (c *KafkaCount) FeedWhile(during func()) {
	c.T.Helper()
	done := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for {
			select {
			case <-done:
				return
			default:
			}
			c.feedQuiet(10)
		}
	}()
	during()
	close(done)
	<-fed
}

// feedQuiet is Feed for a goroutine other than the test's: it records a
// failed write instead of failing the test (Check then reports the counts
// missing).
func (c *KafkaCount) feedQuiet(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	vs := make([]string, n)
	for i := range recs {
		vs[i] = testjobs.VehicleName((c.fed + i) % testjobs.Vehicles)
		recs[i] = &kgo.Record{Topic: c.Params.In, Key: []byte(vs[i])}
	}
	if err := c.w.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return
	}
	c.fed += n
	for _, v := range vs {
		c.sent[v]++
	}
}

// Check waits until a read_committed read of the output holds every count
// the input calls for, and returns how many records it holds beyond those.
// Exactly-once, it requires none more than once and none else.
func (c *KafkaCount) Check(exactlyOnce bool) (repeats int) {
	c.T.Helper()
	want := map[string]bool{}
	for v, n := range c.sent {
		for k := int64(1); k <= n; k++ {
			want[testjobs.KafkaCountValue(v, k)] = true
		}
	}
	var got map[string]int
	var missing int
	ok := clustertest.PollUntil(time.Minute, func() bool {
		got = map[string]int{}
		for _, r := range c.B.ReadAll(c.Params.Out, false) {
			got[string(r.Value)]++
		}
		missing = 0
		for v := range want {
			if got[v] == 0 {
				missing++
			}
		}
		return missing == 0
	})
	require.True(c.T, ok, "the output misses %d of %d counts (job %+v)", missing, len(want), c.Info())
	for v, n := range got {
		if exactlyOnce {
			require.True(c.T, want[v], "the output holds %q, which the input does not call for", v)
		}
		// At least once, the keyed state too may count an item twice (a
		// snapshot without aligned barriers covers some items after its
		// barrier, which the restore reads again): counts above the
		// input's are repeats as well.
		repeats += n
	}
	repeats -= len(want)
	if exactlyOnce {
		require.Zero(c.T, repeats, "exactly-once: records written more than once")
	}
	return repeats
}
