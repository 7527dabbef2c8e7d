package pipeline_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// quietTogether is a source of two partitions that go quiet at the same
// moment: the first Read delivers two events in each second t0..t0+4 on
// partition 1, partition 0 nothing; once the test says so, one Read
// delivers partition 0's events in second t0+5 and one of partition 1 in
// t0+7, and both are quiet again.
type quietTogether struct {
	first bool
	more  *atomic.Bool
	sent  bool
}

const quietT0 = 1_700_000_000

// quietMore holds, by bag, the switch that releases the second Read.
var quietMore sync.Map

func quietAt(sec int64, part int) pipeline.SourceItem[event] {
	return pipeline.SourceItem[event]{V: event{TS: time.Unix(quietT0+sec, 0).UnixNano()}, Partition: part}
}

func (r *quietTogether) Read(buf []pipeline.SourceItem[event], _ int) ([]pipeline.SourceItem[event], bool, error) {
	if !r.first {
		r.first = true
		for s := range int64(5) {
			buf = append(buf, quietAt(s, 1), quietAt(s, 1))
		}
	}
	if !r.sent && r.more.Load() {
		r.sent = true
		buf = append(buf, quietAt(5, 0), quietAt(5, 0), quietAt(5, 0), quietAt(7, 1))
	}
	return buf, false, nil
}

func (r *quietTogether) Partitions() int { return 2 }
func (r *quietTogether) Close() error    { return nil }

func init() {
	dag.Register("test.quiet-together", func(bag string) (*dag.DAG, error) {
		pl := pipeline.New()
		src := pipeline.NewSource("quiet-together", func(*dag.Context) (pipeline.Reader[event], error) {
			more, _ := quietMore.LoadOrStore(bag, new(atomic.Bool))
			return &quietTogether{more: more.(*atomic.Bool)}, nil
		}, pipeline.Singleton())
		ts := pipeline.EventTime(func(e event) time.Time { return time.Unix(0, e.TS) }, 0).IdleTimeout(100 * time.Millisecond)
		counts := pipeline.AggregateWindow(pipeline.WindowAll(pipeline.ReadFrom(pl, src, ts), pipeline.Tumbling(time.Second)), pipeline.Count[event]())
		pipeline.WriteTo(pipeline.Map(counts, func(w pipeline.WindowResult[struct{}, int64]) string {
			return strconv.FormatInt(w.Start.Unix()-quietT0, 10) + ":" + strconv.FormatInt(w.Value, 10)
		}), collect[string](bag))
		return pl.Compile()
	})
}

// TestPartitionsQuietTogether: partitions that go quiet in the same idle
// check first let the watermark rise to what the last of them allows, then
// go idle, as if each had been found quiet at its own moment; so the
// windows their events filled close, every time they go quiet together.
func TestPartitionsQuietTogether(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	ctx := ctxT(t, time.Minute)
	bag := newBag(t)
	more, _ := quietMore.LoadOrStore(bag, new(atomic.Bool))
	t.Cleanup(func() { quietMore.Delete(bag) })
	job, err := dag.Submit(ctx, c.Members()[0], "test.quiet-together", bag)
	require.NoError(t, err)
	results := func(n int) []string {
		t.Helper()
		var got []string
		ok := clustertest.PollUntil(time.Minute, func() bool {
			got = got[:0]
			for _, v := range bagFor(bag).All() {
				got = append(got, v.(string))
			}
			return len(got) >= n
		})
		require.True(t, ok, "windows did not close: %v", got)
		return got
	}
	// Windows 0..3 close on partition 1's last event (second 4), with
	// partition 0, which never delivered, idle too.
	require.Equal(t, []string{"0:2", "1:2", "2:2", "3:2"}, results(4))
	// Both deliver again and go quiet together: the watermark rises to
	// partition 1's second 7, closing windows 4 and 5.
	more.(*atomic.Bool).Store(true)
	require.Equal(t, []string{"0:2", "1:2", "2:2", "3:2", "4:2", "5:3"}, results(6))
	require.NoError(t, job.Cancel(ctx))
}
