package sources

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// GeneratorOption configures Generator and ItemStream.
type GeneratorOption func(*genConfig)

type genConfig struct {
	limit   int64
	limited bool
	start   time.Time
}

// Limit makes the generator bounded: it generates the sequence numbers 0
// to n-1, then ends.
func Limit(n int64) GeneratorOption { return func(c *genConfig) { c.limit, c.limited = n, true } }

// StartAt fixes the event time of sequence number 0: item s is due, and
// stamped, at t + s/rate. Timestamps are then the same in every run and
// every restart (a deterministic demo); if t is in the past, the generator
// catches up as fast as it can. Without it, each instance starts its clock
// when it starts (or restarts), so items are not generated in a burst after
// an outage. Ignored when the rate is unlimited.
func StartAt(t time.Time) GeneratorOption { return func(c *genConfig) { c.start = t } }

// Generator is a streaming source of the items fn returns for the sequence
// numbers 0, 1, 2, ..., at itemsPerSecond in the whole job (0: as fast as
// the job consumes them; millions per second). fn must be deterministic:
// the source is replayable by generating again from a saved sequence
// number, so an exactly-once job reading it produces the same output
// whatever fails.
//
// Sequence number s belongs to map partition s modulo the partition count,
// and each instance generates those of the partitions the job assigns it, in
// increasing order: the rate is shared among the instances in proportion,
// and a restart on another number of members resumes every partition at its
// saved sequence number. Items carry native timestamps: when rate-limited,
// the time item s was due (see StartAt), else the time it was generated;
// read them with pipeline.NativeTime.
//
//	readings := pipeline.ReadFrom(pl, sources.Generator(10_000, func(seq int64) Reading {
//		return Reading{Vehicle: fmt.Sprintf("truck-%d", seq%13), Kg: float64(seq % 500)}
//	}), pipeline.NativeTime[Reading](100*time.Millisecond))
func Generator[T any](itemsPerSecond int64, fn func(seq int64) T, opts ...GeneratorOption) pipeline.Source[T] {
	return generate("generator", itemsPerSecond, func(seq, _ int64) T { return fn(seq) }, opts)
}

// StreamItem is an item of ItemStream: a sequence number and the item's
// event time.
type StreamItem struct {
	Seq int64 `msgpack:"s"`
	TS  int64 `msgpack:"t"` // unix nanoseconds
}

// Time is the item's event time: pipeline.EventTime(sources.StreamItem.Time, lag).
func (s StreamItem) Time() time.Time { return time.Unix(0, s.TS) }

// ItemStream is an endless stream of test items, like Jet's
// TestSources.itemStream: itemsPerSecond items in the whole job (0: no
// limit), each with its sequence number and its event time, for tests and
// demos of windows with pipeline.NativeTime or pipeline.EventTime. It is a Generator,
// with the same options and guarantees.
//
//	items := pipeline.ReadFrom(pl, sources.ItemStream(1000), pipeline.EventTime(sources.StreamItem.Time, 0))
//	counts := pipeline.AggregateWindow(pipeline.WindowAll(items, pipeline.Tumbling(time.Second)), pipeline.Count[sources.StreamItem]())
func ItemStream(itemsPerSecond int64, opts ...GeneratorOption) pipeline.Source[StreamItem] {
	return generate("item-stream", itemsPerSecond, func(seq, ts int64) StreamItem { return StreamItem{Seq: seq, TS: ts} }, opts)
}

func generate[T any](name string, rate int64, fn func(seq, ts int64) T, opts []GeneratorOption) pipeline.Source[T] {
	var c genConfig
	for _, o := range opts {
		o(&c)
	}
	return pipeline.NewSource(name, func(ctx *dag.Context) (pipeline.Reader[T], error) {
		if err := c.validate(rate); err != nil {
			return nil, err
		}
		return newGenReader(fn, ctx.Partitions(), ctx.PartitionCount(), rate, c, time.Now), nil
	}, pipeline.Replayable())
}

// validate reports every problem of the configuration at once.
func (c genConfig) validate(rate int64) error {
	var errs []error
	if rate < 0 {
		errs = append(errs, fmt.Errorf("rate %d items per second: it must be positive, or 0 for no limit", rate))
	}
	if c.limited && c.limit < 0 {
		errs = append(errs, fmt.Errorf("Limit(%d): it must not be negative", c.limit))
	}
	return errors.Join(errs...)
}

// genReader generates the sequence numbers of its partitions in increasing
// order, round by round: in round k, partition p's number is k*n+p.
type genReader[T any] struct {
	fn     func(seq, ts int64) T
	parts  []int   // in increasing order
	n      int64   // partition count
	next   []int64 // next sequence number, per index in parts
	round  int64
	idx    int // index in parts in the round
	rate   int64
	period float64 // nanoseconds per item
	base   int64   // when sequence number 0 is due, unix nanoseconds
	fixed  bool    // base set by StartAt
	limit  int64   // -1: unbounded
	now    func() time.Time
}

func newGenReader[T any](fn func(seq, ts int64) T, parts []int, n int, rate int64, c genConfig, now func() time.Time) *genReader[T] {
	parts = slices.Sorted(slices.Values(parts))
	r := &genReader[T]{fn: fn, parts: parts, n: int64(n), next: make([]int64, len(parts)), rate: rate, limit: -1, now: now}
	if c.limited {
		r.limit = c.limit
	}
	for i, p := range parts {
		r.next[i] = int64(p)
	}
	if rate > 0 {
		r.period = 1e9 / float64(rate)
	}
	if !c.start.IsZero() {
		r.base, r.fixed = c.start.UnixNano(), true
	}
	r.rewind()
	return r
}

// rewind restarts the rounds at the smallest next sequence number and, for
// a clock not fixed by StartAt, makes it due now.
func (r *genReader[T]) rewind() {
	r.idx = 0
	if len(r.next) == 0 {
		return
	}
	low := r.next[0]
	for _, s := range r.next {
		low = min(low, s)
	}
	r.round = low / r.n
	if !r.fixed {
		r.base = r.now().UnixNano() - int64(float64(low)*r.period)
	}
}

func (r *genReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	if len(r.parts) == 0 {
		return buf, true, nil // no partition here: nothing to generate
	}
	now := r.now().UnixNano()
	due := int64(1<<63 - 1) // the highest sequence number due
	if r.rate > 0 {
		due = -1 // none before the start
		if now >= r.base {
			due = int64(float64(now-r.base) / r.period)
		}
	}
	for len(buf) < max {
		if r.idx == len(r.parts) {
			r.round++
			r.idx = 0
		}
		seq := r.round*r.n + int64(r.parts[r.idx])
		if r.limit >= 0 && seq >= r.limit {
			// parts increase, so every number left is past the limit too:
			// done now, not when they would be due.
			return buf, true, nil
		}
		if r.next[r.idx] != seq { // a partition restored ahead of the others
			r.idx++
			continue
		}
		if seq > due {
			break
		}
		ts := now
		if r.rate > 0 {
			ts = r.base + int64(float64(seq)*r.period)
		}
		buf = append(buf, pipeline.SourceItem[T]{V: r.fn(seq, ts), TS: ts})
		r.next[r.idx] = seq + r.n
		r.idx++
	}
	return buf, false, nil
}

func (r *genReader[T]) Partitions() int { return 1 }
func (r *genReader[T]) Close() error    { return nil }

// Positions saves the next sequence number of every partition.
func (r *genReader[T]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts))
	for i, p := range r.parts {
		out[strconv.Itoa(p)] = binary.AppendUvarint(nil, uint64(r.next[i]))
	}
	return out, nil
}

func (r *genReader[T]) Seek(positions map[string][]byte) error {
	for i, p := range r.parts {
		b, ok := positions[strconv.Itoa(p)]
		if !ok {
			r.next[i] = int64(p)
			continue
		}
		s, k := binary.Uvarint(b)
		if k <= 0 || k != len(b) || int64(s)%r.n != int64(p) {
			return fmt.Errorf("generator: bad position %x for partition %d", b, p)
		}
		r.next[i] = int64(s)
	}
	r.rewind()
	return nil
}
