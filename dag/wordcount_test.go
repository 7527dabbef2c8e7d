package dag_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

type wordCount struct {
	Word  string
	Count int64
}

// counter counts words per instance and emits the counts when its input
// completes.
type counter struct {
	counts map[string]int64
	out    *dag.Emitter[wordCount]
	emit   []wordCount
}

func (c *counter) Init(ctx *dag.Context) error {
	c.counts = map[string]int64{}
	var err error
	c.out, err = dag.Output[wordCount](ctx, 0)
	return err
}

func (c *counter) Process(_ int, in *dag.Inbox) error {
	for _, w := range dag.Items[string](in) {
		c.counts[w]++
	}
	in.Consume(in.Len())
	return nil
}

func (c *counter) Complete() (bool, error) {
	if c.emit == nil {
		for w, n := range c.counts {
			c.emit = append(c.emit, wordCount{w, n})
		}
	}
	for len(c.emit) > 0 {
		if !c.out.Offer(c.emit[0]) {
			return false, nil
		}
		c.emit = c.emit[1:]
	}
	return true, nil
}

type wcParams struct {
	Lines []string
	Bag   string
}

func init() {
	dag.Register("test.wordcount", func(p wcParams) (*dag.DAG, error) {
		d := dag.New()
		lines := d.AddVertex("lines", dag.SliceP(p.Lines))
		words := d.AddVertex("words", dag.FlatMapP(func(line string) []string { return strings.Fields(line) }))
		count := d.AddVertex("count", func() dag.Processor { return &counter{} })
		sink := d.AddVertex("sink", dag.SinkP(func(ctx *dag.Context, items []wordCount) error {
			for _, wc := range items {
				bagFor(p.Bag).Add(ctx.Vertex, wc)
			}
			return nil
		}))
		dag.Between[string](lines, words)
		dag.PartitionBy(dag.Between[string](words, count).Distributed(), func(w string) string { return w })
		dag.Between[wordCount](count, sink)
		return d, nil
	})
}

func TestWordCountOnThreeMembers(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	vocab := []string{"fleet", "truck", "fuel", "load", "axle", "route", "driver", "parcel", "co2", "depot"}
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	want := map[string]int64{}
	for range 2000 {
		var sb strings.Builder
		for range 1 + rng.IntN(20) {
			w := vocab[rng.IntN(len(vocab))] + string(rune('a'+rng.IntN(26)))
			want[w]++
			sb.WriteString(w + " ")
		}
		lines = append(lines, sb.String())
	}
	ctx := ctxT(t, 60*time.Second)
	name := newBag(t)
	job, err := dag.Submit(ctx, c.Members()[1], "test.wordcount", wcParams{Lines: lines, Bag: name})
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got := map[string]int64{}
	for _, v := range bagFor(name).All() {
		wc := v.(wordCount)
		_, dup := got[wc.Word]
		require.False(t, dup, "word %q counted on two instances", wc.Word)
		got[wc.Word] = wc.Count
	}
	require.Equal(t, want, got)
}
