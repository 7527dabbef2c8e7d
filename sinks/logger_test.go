package sinks_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

type loggerParams struct {
	Src    Src
	Prefix string // "": sinks.Log, formatting with %v
}

func init() {
	dag.Register("sinks_test.logger", func(p loggerParams) (*dag.DAG, error) {
		pl := pipeline.New()
		items := p.Src.read(pl)
		if p.Prefix == "" {
			pipeline.WriteTo(items, sinks.Log[int]())
		} else {
			pipeline.WriteTo(items, sinks.Logger(func(i int) string { return fmt.Sprintf("%s %d", p.Prefix, i) }))
		}
		return pl.Compile()
	})
}

// recorder is a slog handler keeping the records of the logger sink, with
// the attributes their loggers carry.
type recorder struct {
	mu      *sync.Mutex
	records *[]record
	attrs   []slog.Attr
}

type record struct {
	msg   string
	attrs map[string]string
}

func newRecorder() *recorder { return &recorder{mu: &sync.Mutex{}, records: new([]record)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]string{}
	for _, a := range r.attrs {
		attrs[a.Key] = a.Value.String()
	}
	if attrs["sink"] != "logger" {
		return nil // the member's own logs
	}
	rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.records = append(*r.records, record{msg: rec.Message, attrs: attrs})
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(slices.Clip(r.attrs), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) take() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := *r.records
	*r.records = nil
	return out
}

// TestLogger: every item is logged once, by the member processing it, at
// Info, formatted, with the job, vertex and instance in the record.
func TestLogger(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d members", n), func(t *testing.T) {
			rec := newRecorder()
			cfg := clustertest.Config(t)
			cfg.Logger = slog.New(rec)
			c := clustertest.Start(t, n, cfg)

			j := submit(t, c.Members()[0], "sinks_test.logger", loggerParams{Src: Src{N: 500}, Prefix: "reading"})
			require.NoError(t, j.Wait(ctxT(t, 30*time.Second)))
			var want, got []string
			for i := range 500 {
				want = append(want, fmt.Sprintf("reading %d", i))
			}
			members := map[string]bool{}
			for _, r := range rec.take() {
				got = append(got, r.msg)
				require.Equal(t, j.ID, r.attrs["job"])
				require.NotEmpty(t, r.attrs["vertex"])
				require.NotEmpty(t, r.attrs["instance"])
				members[r.attrs["member"]] = true
			}
			require.ElementsMatch(t, want, got)
			require.Len(t, members, n, "each member logs the items it processes")

			require.NoError(t, run(t, c.Members()[0], "sinks_test.logger", loggerParams{Src: Src{N: 3}}))
			got = got[:0]
			for _, r := range rec.take() {
				got = append(got, r.msg)
			}
			require.ElementsMatch(t, []string{"0", "1", "2"}, got, "Log formats with %%v")
		})
	}
}
