package sinks

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Log writes every item to the log of the member processing it, formatted
// with fmt's %v: for demos and debugging.
//
//	pipeline.WriteTo(counts, sinks.Log[pipeline.KV[string, int64]]())
func Log[T any]() pipeline.Sink[T] { return Logger[T](nil) }

// Logger writes every item to the log of the member processing it
// (member.Logger, through the job's logger: the records carry the job,
// vertex and instance), one Info record per item whose message is
// format(item); nil format means fmt's %v. Each member logs the items its
// instances receive, in the order they received them. At least once: after
// a restart from a snapshot the items since it are logged again. For demos
// and debugging; a busy stream floods the log.
//
//	pipeline.WriteTo(alerts, sinks.Logger(func(a Alert) string {
//		return fmt.Sprintf("%s over its limit by %d kg", a.Truck, a.OverKg)
//	}))
func Logger[T any](format func(T) string) pipeline.Sink[T] {
	if format == nil {
		format = func(v T) string { return fmt.Sprint(v) }
	}
	return pipeline.NewSink("logger", func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		return &logWriterSink[T]{log: ctx.Logger.With("sink", "logger"), ctx: ctx.Context(), format: format}, nil
	})
}

type logWriterSink[T any] struct {
	log    *slog.Logger
	ctx    context.Context
	format func(T) string
}

func (w *logWriterSink[T]) Write(items []T) error {
	if !w.log.Enabled(w.ctx, slog.LevelInfo) {
		return nil
	}
	for _, it := range items {
		w.log.LogAttrs(w.ctx, slog.LevelInfo, w.format(it))
	}
	return nil
}

func (w *logWriterSink[T]) Close() error { return nil }
