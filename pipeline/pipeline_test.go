package pipeline_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sources"
)

type plWCParams struct {
	Lines []string
	Bag   string
}

func init() {
	dag.Register("test.pipeline.wordcount", func(p plWCParams) (*dag.DAG, error) {
		pl := pipeline.New()
		lines := pipeline.ReadFrom(pl, sources.Items(p.Lines...), pipeline.NoTimestamps[string]())
		words := pipeline.FlatMap(lines, strings.Fields)
		upper := pipeline.Map(words, strings.ToUpper)
		counts := pipeline.AggregateByKey(pipeline.GroupBy(upper, pipeline.Identity[string]), pipeline.Count[string]())
		pipeline.WriteTo(counts, collect[pipeline.KV[string, int64]](p.Bag))
		return pl.Compile()
	})
}

// collect is a test sink adding what it receives to a bag.
func collect[T any](bag string) pipeline.Sink[T] {
	return pipeline.NewSink("collect", func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		return bagWriter[T]{b: bagFor(bag), label: ctx.MemberID()}, nil
	})
}

type bagWriter[T any] struct {
	b     *clustertest.Bag
	label string
}

func (w bagWriter[T]) Write(items []T) error {
	for _, it := range items {
		w.b.Add(w.label, it)
	}
	return nil
}

func (w bagWriter[T]) Close() error { return nil }

func TestPipelineWordCount(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"fuel", "load", "gnss", "co2", "trip", "parcel", "driver"}
	var lines []string
	want := map[string]int64{}
	for range 3000 {
		var line []string
		for range 1 + rng.IntN(12) {
			w := words[rng.IntN(len(words))]
			line = append(line, w)
			want[strings.ToUpper(w)]++
		}
		lines = append(lines, strings.Join(line, " "))
	}
	ctx := ctxT(t, 60*time.Second)
	name := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[0], "test.pipeline.wordcount", plWCParams{Lines: lines, Bag: name})
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got := map[string]int64{}
	for _, v := range bagFor(name).All() {
		kv := v.(pipeline.KV[string, int64])
		_, dup := got[kv.Key]
		require.False(t, dup)
		got[kv.Key] = kv.Value
	}
	require.Equal(t, want, got)
}
