package sinks_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type channelParams struct {
	Src     Src
	Channel string
}

func init() {
	dag.Register("sinks_test.channel", func(p channelParams) (*dag.DAG, error) {
		pl := pipeline.New()
		pipeline.WriteTo(p.Src.read(pl), sinks.Channel[int](p.Channel))
		return pl.Compile()
	})
}

// registerChannel registers ch under a fresh name until the test ends.
func registerChannel[T any](t *testing.T, ch chan T) string {
	name := uniqueName(t)
	unregister, err := sinks.RegisterChannel(name, ch)
	require.NoError(t, err)
	t.Cleanup(unregister)
	return name
}

func TestChannelDeliversEveryItem(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ch := make(chan int, 16)
		name := registerChannel(t, ch)
		ms := c.Members()
		j := submit(t, ms[len(ms)-1], "sinks_test.channel", channelParams{Src: Src{N: 3000}, Channel: name})
		ended := make(chan error, 1)
		go func() { ended <- j.Wait(ctxT(t, 30*time.Second)) }()
		var got []int
		for {
			select {
			case v := <-ch:
				got = append(got, v)
				continue
			case err := <-ended:
				require.NoError(t, err)
			}
			break
		}
		// The job's sends have all returned: what is left is buffered.
		for len(ch) > 0 {
			got = append(got, <-ch)
		}
		require.Equal(t, ints(3000), sorted(got))
	})
}

// TestChannelBackpressure: a reader that does not keep up holds the job
// back. The source never ends; while the reader reads nothing, the items
// emitted and not yet received stay within the job's bounded queues (plus a
// batch in the source, in the outbox and in the sink), and the metrics show
// them waiting in the sink's queue. Reading then lets the job go on, in
// order, never more than that bound ahead of the reader; cancelling the job
// unblocks a send to a full channel.
func TestChannelBackpressure(t *testing.T) {
	t.Parallel()
	const (
		batch     = 1024
		queue     = 16 * batch          // the default queue of an edge, in items
		inFlight  = queue + 4*batch + 1 // + source buffer, outbox, sink batch, channel
		readItems = 4 * inFlight
	)
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		ch := make(chan int, 1)
		name := registerChannel(t, ch)
		gateName, g := newGate(t, open)
		j := submit(t, c.Members()[0], "sinks_test.channel", channelParams{Src: Src{Gate: gateName}, Channel: name}, dag.WithLocalParallelism(1))

		require.Eventually(t, func() bool {
			return vertexMetrics(t, j, "channel-").Queued >= batch
		}, 30*time.Second, time.Millisecond, "items never waited in the sink's queue")
		require.LessOrEqual(t, vertexMetrics(t, j, "channel-").Queued, int64(queue))
		require.LessOrEqual(t, g.emitted.Load(), int64(inFlight), "the source ran ahead of a reader that reads nothing")

		for i := range readItems {
			v := <-ch
			require.Equal(t, i, v, "one producer: items arrive in order")
			if ahead := g.emitted.Load() - int64(i+1); ahead > inFlight {
				require.FailNow(t, "the source ran ahead of the reader", "%d items ahead, bound %d", ahead, inFlight)
			}
		}

		// The sink is blocked on the full channel again: cancel.
		require.Eventually(t, func() bool { return len(ch) == cap(ch) }, 30*time.Second, time.Millisecond)
		ctx := ctxT(t, 30*time.Second)
		require.NoError(t, j.Cancel(ctx))
		require.ErrorIs(t, j.Wait(ctx), dag.ErrCancelled)
	})
}

func TestChannelBadConfig(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, clustertest.Config(t))
	m := c.Members()[0]

	err := run(t, m, "sinks_test.channel", channelParams{Src: Src{N: 10}, Channel: "never-registered"})
	require.ErrorContains(t, err, `no channel registered as "never-registered"`)

	name := registerChannel(t, make(chan string))
	err = run(t, m, "sinks_test.channel", channelParams{Src: Src{N: 10}, Channel: name})
	require.ErrorContains(t, err, "carries string, the sink writes int")

	_, err = sinks.RegisterChannel(name, make(chan int))
	require.ErrorContains(t, err, "already registered")
	_, err = sinks.RegisterChannel[int]("", nil)
	require.Error(t, err)
}

// TestChannelUnregister: a name is free again once unregistered, and
// unregistering twice is harmless.
func TestChannelUnregister(t *testing.T) {
	t.Parallel()
	unregister, err := sinks.RegisterChannel("reused", make(chan int))
	require.NoError(t, err)
	unregister()
	unregister()
	unregister, err = sinks.RegisterChannel("reused", make(chan int))
	require.NoError(t, err)
	unregister()
}
