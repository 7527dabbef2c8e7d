package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/weir-dev/weir/bench/internal/harness"
)

// snapshotRecord is one "snapshot complete" record of a job's coordinator
// (dag/snapcoord.go logs it at debug level): the only place the engine
// says how long a snapshot took and how large it was.
type snapshotRecord struct {
	ID      uint64
	Entries int64
	Bytes   int64
	Took    time.Duration
	At      time.Time // when it was logged, at the end of the snapshot
}

// started is when the snapshot began (as the coordinator timed it).
func (r snapshotRecord) started() time.Time { return r.At.Add(-r.Took) }

// snapshotLog is a slog handler for the members of workloads 6 and 7: it
// keeps every "snapshot complete" record by job, and passes the records
// harness.Logger would print on to its handler.
type snapshotLog struct {
	next  slog.Handler
	state *snapshotLogState
}

type snapshotLogState struct {
	mu   sync.Mutex // guards jobs
	jobs map[string][]snapshotRecord
}

func newSnapshotLog() *snapshotLog {
	return &snapshotLog{next: harness.Logger().Handler(), state: &snapshotLogState{jobs: map[string][]snapshotRecord{}}}
}

func (h *snapshotLog) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelDebug || h.next.Enabled(ctx, level)
}

func (h *snapshotLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "snapshot complete" {
		h.keep(r)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *snapshotLog) keep(r slog.Record) {
	var job string
	rec := snapshotRecord{At: r.Time}
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		switch a.Key {
		case "job":
			job = v.String()
		case "snapshot":
			rec.ID = uint64(intOf(v))
		case "entries":
			rec.Entries = intOf(v)
		case "bytes":
			rec.Bytes = intOf(v)
		case "took":
			rec.Took = time.Duration(intOf(v))
		}
		return true
	})
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	h.state.jobs[job] = append(h.state.jobs[job], rec)
}

// intOf reads a number whatever kind the logger gave it (-1 if it is not
// one), so that a change of type in the engine's log call does not panic.
func intOf(v slog.Value) int64 {
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return int64(v.Uint64())
	case slog.KindDuration:
		return int64(v.Duration())
	case slog.KindFloat64:
		return int64(v.Float64())
	}
	return -1
}

func (h *snapshotLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &snapshotLog{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *snapshotLog) WithGroup(name string) slog.Handler {
	return &snapshotLog{next: h.next.WithGroup(name), state: h.state}
}

// logWith is a logger writing to h.
func logWith(h slog.Handler) *slog.Logger { return slog.New(h) }

// records returns the snapshots of a job recorded so far, in order.
func (h *snapshotLog) records(job string) []snapshotRecord {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	return append([]snapshotRecord(nil), h.state.jobs[job]...)
}
