package sinks

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/internal/testkit/kafkatest"
)

// txnsFor is the exactly-once state of instance index of total, of a job
// whose execution ends when ctx does.
func txnsFor(ctx context.Context, b *kafkatest.Broker, index, total int) *kafkaTxns {
	return &kafkaTxns{
		jobCtx: ctx, log: slog.New(slog.NewTextHandler(io.Discard, nil)), index: index, total: total,
		opts:  []kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("out")},
		topic: "out", prefix: "test", timeout: 15 * time.Minute, // the default: only fencing aborts in time
	}
}

func (x *kafkaTxns) produce(t *testing.T, values ...string) {
	cl, err := x.openTxn()
	require.NoError(t, err)
	for _, v := range values {
		cl.Produce(x.jobCtx, &kgo.Record{Value: []byte(v)}, nil)
	}
}

func values(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	slices.Sort(out)
	return out
}

// The Kafka sink's side of two-phase commit, across executions: a restore
// commits what its snapshot prepared (by producer ID and epoch), aborts
// what the failed execution wrote after it, fences the failed execution's
// producers, and a restore from an older snapshot, whose transactions were
// committed and their IDs used again since, commits nothing twice.
func TestKafkaTxnsAcrossExecutions(t *testing.T) {
	t.Parallel()
	b := kafkatest.Start(t)
	b.CreateTopic("out", 2)
	ctx1, stop1 := context.WithCancel(context.Background())
	defer stop1()

	// Execution 1: a1 committed with snapshot 1; a2 prepared on snapshot
	// 2, which completes, but the execution dies before committing it;
	// a3 written after, in an open transaction.
	x1 := txnsFor(ctx1, b, 0, 1)
	x1.produce(t, "a1")
	snap1, err := x1.prepareSnap(1)
	require.NoError(t, err)
	require.NoError(t, x1.commit(1))
	x1.produce(t, "a2")
	snap2, err := x1.prepareSnap(2)
	require.NoError(t, err)
	x1.produce(t, "a3")
	cl1 := x1.open.cl
	require.NoError(t, cl1.Flush(ctx1))
	require.Equal(t, []string{"a1", "a2", "a3"}, values(b.ReadAll("out", true)), "read uncommitted: everything written")

	// Execution 2, on two instances, restores snapshot 2. Instance 0 (the
	// old instance 0's heir) commits a2 and aborts a3.
	x2 := txnsFor(context.Background(), b, 0, 2)
	x2.restored = []kafkaSaved{snap2}
	require.NoError(t, x2.settle())
	require.Equal(t, []string{"a1", "a2"}, values(b.ReadAll("out", false)), "snapshot 2's output, and nothing after it")

	// Execution 1 is a zombie now: fenced, it cannot commit a3.
	require.Error(t, cl1.EndTransaction(ctx1, kgo.TryCommit))
	require.Equal(t, []string{"a1", "a2"}, values(b.ReadAll("out", false)))

	// Execution 2 goes on with new transactions on the same IDs.
	x2.produce(t, "b1")
	_, err = x2.prepareSnap(3)
	require.NoError(t, err)
	require.NoError(t, x2.commit(3))
	x2.produce(t, "b2")
	_, err = x2.prepareSnap(4)
	require.NoError(t, err)
	require.NoError(t, x2.commit(4))
	require.Equal(t, []string{"a1", "a2", "b1", "b2"}, values(b.ReadAll("out", false)))

	// Execution 3 restores snapshot 1 (say snapshot 2's record was lost):
	// a1 was committed and its ID has had transactions since; committing
	// it again by its old epoch is refused by the broker, and nothing is
	// committed twice or aborted.
	x3 := txnsFor(context.Background(), b, 0, 1)
	x3.restored = []kafkaSaved{snap1}
	require.NoError(t, x3.settle())
	require.Equal(t, []string{"a1", "a2", "b1", "b2"}, values(b.ReadAll("out", false)))

	for _, x := range []*kafkaTxns{x1, x2, x3} {
		for i := range x.slots {
			if x.slots[i].cl != nil {
				x.slots[i].cl.Close()
			}
		}
	}
}
