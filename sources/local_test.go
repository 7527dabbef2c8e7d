package sources_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type localParams struct {
	Name string
	Wait time.Duration
	Bag  string
}

func (p localParams) options() []sources.LocalOption {
	if p.Wait == 0 {
		return nil
	}
	return []sources.LocalOption{sources.WaitRegistered(p.Wait)}
}

func init() {
	dag.Register("sources.test.channel", func(p localParams) (*dag.DAG, error) {
		pl := pipeline.New()
		xs := pipeline.ReadFrom(pl, sources.Channel[int](p.Name, p.options()...), pipeline.NoTimestamps[int]())
		pipeline.WriteTo(xs, collect[int](p.Bag))
		return pl.Compile()
	})
	dag.Register("sources.test.seq", func(p localParams) (*dag.DAG, error) {
		pl := pipeline.New()
		xs := pipeline.ReadFrom(pl, sources.Seq[int](p.Name, p.options()...), pipeline.NoTimestamps[int]())
		pipeline.WriteTo(xs, collect[int](p.Bag))
		return pl.Compile()
	})
}

func numbers(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// readers returns the members whose sinks received items of the bag (the
// sink is on the member of the source instance that read them).
func readers(bag string) map[string]int {
	out := map[string]int{}
	for _, l := range bagFor(bag).labelled() {
		out[l.member]++
	}
	return out
}

// TestChannel reads a channel to its end on one member; the instances on
// the others (which share this process's registry) end without reading.
// The job is submitted before the channel is registered and fed.
func TestChannel(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		name := fmt.Sprintf("orders-%d", len(c.Members()))
		bag := newBag(t)
		j := submit(t, c.Members()[0], "sources.test.channel", localParams{Name: name, Bag: bag})

		ch := make(chan int, 256)
		unregister, err := sources.RegisterChannel(name, ch)
		require.NoError(t, err)
		defer unregister()
		want := numbers(3000)
		for _, x := range want { // blocks while the job has not taken enough
			ch <- x
		}
		close(ch)
		require.NoError(t, j.Wait(ctxT(t, time.Minute)))
		requireOnce(t, want, values[int](bag))
		require.Len(t, readers(bag), 1, "one member reads the channel")
	})
}

// TestSeq iterates a registered iterator on one member; a second job
// iterates it again.
func TestSeq(t *testing.T) {
	t.Parallel()
	onClusters(t, func(t *testing.T, c *clustertest.Cluster) {
		name := fmt.Sprintf("fixtures-%d", len(c.Members()))
		want := numbers(5000)
		unregister, err := sources.RegisterSeq(name, slices.Values(want))
		require.NoError(t, err)
		defer unregister()
		for range 2 {
			bag := newBag(t)
			require.NoError(t, run(t, c.Members()[len(c.Members())-1], "sources.test.seq", localParams{Name: name, Bag: bag}))
			requireOnce(t, want, values[int](bag))
			require.Len(t, readers(bag), 1, "one member iterates")
		}
	})
}

// TestLocalSourceNotRegistered fails a job whose channel or iterator no
// process registered within the wait, naming it.
func TestLocalSourceNotRegistered(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	err := run(t, c.Members()[1], "sources.test.channel", localParams{Name: "nobody", Wait: 300 * time.Millisecond, Bag: newBag(t)})
	require.ErrorContains(t, err, `sources: name not registered: no process running the job registered a channel called "nobody" within 300ms`)

	unregister, err := sources.RegisterSeq("words", slices.Values([]string{"a", "b"}))
	require.NoError(t, err)
	defer unregister()
	err = run(t, c.Members()[0], "sources.test.seq", localParams{Name: "words", Bag: newBag(t)})
	require.ErrorContains(t, err, `iterator "words" holds string items, the source reads int`)
}

// TestLocalSourcesRefuseGuarantees: a job reading a channel, an iterator or
// a socket cannot have a processing guarantee; its submission says why.
func TestLocalSourcesRefuseGuarantees(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	for _, job := range []string{"sources.test.channel", "sources.test.seq"} {
		for _, g := range []dag.Guarantee{dag.ExactlyOnce, dag.AtLeastOnce} {
			_, err := dag.Submit(ctxT(t, time.Minute), m, job, localParams{Name: "x", Bag: newBag(t)}, dag.WithGuarantee(g))
			require.ErrorIs(t, err, dag.ErrNotReplayable)
			require.ErrorContains(t, err, "cannot replay what it read")
		}
	}
	_, err := dag.Submit(ctxT(t, time.Minute), m, "sources.test.socket", socketParams{Addr: "127.0.0.1:1", Bag: newBag(t)}, dag.WithGuarantee(dag.ExactlyOnce))
	require.ErrorIs(t, err, dag.ErrNotReplayable)
	require.ErrorContains(t, err, `source "socket" cannot replay`)
}
