package pipeline

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/weir-dev/weir/dag"
)

// Source is where a pipeline reads from. The connectors in package sources
// build them; NewSource makes custom ones.
type Source[T any] struct {
	name       string
	open       func(ctx *dag.Context) (Reader[T], error)
	replayable bool
	par        int
	singleton  bool
}

// Reader reads one processor instance's share of a source.
type Reader[T any] interface {
	// Read appends up to max items to buf and returns it. done reports that
	// the source is exhausted (a bounded source); an unbounded one never
	// reports done, and may return no items when none are available yet.
	// Read must not block for long: return what is there.
	Read(buf []SourceItem[T], max int) (items []SourceItem[T], done bool, err error)
	// Partitions is the number of partitions this reader reads: items name
	// theirs, and watermarks are kept per partition, so a quiet partition
	// can be marked idle instead of holding the others back. It is asked
	// once, when the reader opens; a reader that reads more partitions
	// later names them with the next numbers.
	Partitions() int
	// Close releases the reader's resources.
	Close() error
}

// Positioned is implemented by readers that can save where they are and
// resume from there: what processing guarantees need from a source.
// Positions are kept per source partition, named the same whichever
// instance reads it (a map partition number, a file name), so that a job
// restarted on another number of members resumes every partition where it
// was, whichever instance now reads it.
type Positioned interface {
	// Positions returns the position in every partition the reader reads.
	Positions() (map[string][]byte, error)
	// Seek receives every position the source saved, whichever instance
	// saved it; the reader resumes the partitions it reads from theirs.
	Seek(positions map[string][]byte) error
}

// SourceItem is one item read, with the source partition it came from and
// its time in the source (unix nanoseconds, 0 if the source has none).
type SourceItem[T any] struct {
	V         T
	Partition int
	TS        int64
}

// SourceOption configures a source.
type SourceOption func(*sourceOptions)

type sourceOptions struct {
	replayable bool
	par        int
	singleton  bool
}

// Replayable declares that the source's readers implement Positioned: a
// job reading it can be exactly-once.
func Replayable() SourceOption { return func(o *sourceOptions) { o.replayable = true } }

// SourceParallelism sets the readers per member (default: the job's).
func SourceParallelism(n int) SourceOption { return func(o *sourceOptions) { o.par = n } }

// Singleton makes one reader in the whole cluster read the source (a socket,
// a channel of the embedding program); the other instances read nothing.
func Singleton() SourceOption { return func(o *sourceOptions) { o.singleton = true } }

// NewSource describes a source whose readers open creates, one per processor
// instance; ctx tells the instance which share to read (dag.Context.GlobalIndex,
// dag.Context.Partitions for map partitions).
func NewSource[T any](name string, open func(ctx *dag.Context) (Reader[T], error), opts ...SourceOption) Source[T] {
	var o sourceOptions
	for _, opt := range opts {
		opt(&o)
	}
	return Source[T]{name: name, open: open, replayable: o.replayable, par: o.par, singleton: o.singleton}
}

// Name is the source's name.
func (s Source[T]) Name() string { return s.name }

// IsReplayable reports whether the source can be read again from a saved
// position.
func (s Source[T]) IsReplayable() bool { return s.replayable }

type tsKind uint8

const (
	tsNone tsKind = iota
	tsEvent
	tsIngestion
	tsNative
)

// Timestamps says where a source stage's event times come from and how its
// watermarks advance.
type Timestamps[T any] struct {
	kind  tsKind
	event func(T) time.Time
	lag   time.Duration
	idle  time.Duration
	frame time.Duration
}

// NoTimestamps is for batch pipelines, or streams without event time: no
// watermarks are emitted, and windows are not available.
func NoTimestamps[T any]() Timestamps[T] { return Timestamps[T]{} }

// EventTime takes each item's time from ts. The watermark trails the
// highest time seen on each source partition by allowedLag: an item later
// than that is late.
func EventTime[T any](ts func(T) time.Time, allowedLag time.Duration) Timestamps[T] {
	return Timestamps[T]{kind: tsEvent, event: ts, lag: allowedLag}
}

// IngestionTime stamps items with the time they were read.
func IngestionTime[T any]() Timestamps[T] { return Timestamps[T]{kind: tsIngestion} }

// NativeTime uses the time the source itself gives each item.
func NativeTime[T any](allowedLag time.Duration) Timestamps[T] {
	return Timestamps[T]{kind: tsNative, lag: allowedLag}
}

// IdleTimeout marks a source partition idle when it has delivered nothing
// for d (default 5s): an idle partition no longer holds the watermark back,
// so sparse keys do not stop windows from closing. It counts again as soon as
// it delivers.
func (t Timestamps[T]) IdleTimeout(d time.Duration) Timestamps[T] { t.idle = d; return t }

// Throttle emits a watermark only when it crosses a multiple of d (default
// 1ms): every watermark splits the batches behind it, so a stream with
// strictly increasing times would otherwise send one per item.
func (t Timestamps[T]) Throttle(d time.Duration) Timestamps[T] { t.frame = d; return t }

func (t Timestamps[T]) withDefaults() Timestamps[T] {
	if t.idle <= 0 {
		t.idle = 5 * time.Second
	}
	if t.frame <= 0 {
		t.frame = time.Millisecond
	}
	return t
}

// ReadFrom starts a pipeline from src, with event times as ts says.
func ReadFrom[T any](p *Pipeline, src Source[T], ts Timestamps[T]) Stage[T] {
	ts = ts.withDefaults()
	n := p.add(src.name, nil, nil)
	n.par = src.par
	n.build = func(c *compiler) error {
		v := c.vertex(n, func() dag.Processor { return &sourceP[T]{src: src, ts: ts} })
		if !src.replayable {
			v.NotReplayable(src.name)
		}
		return nil
	}
	return newStage[T](n)
}

// sourceP reads a source, stamps items with their event time and emits
// watermarks per source partition, coalesced by minimum over the partitions
// that are not idle.
type sourceP[T any] struct {
	src  Source[T]
	ts   Timestamps[T]
	ctx  *dag.Context
	r    Reader[T]
	out  *fanout[T]
	buf  []SourceItem[T]
	pos  int // next item of buf to emit
	done bool
	now  func() time.Time

	parts   []partState
	wm      int64 // coalesced watermark (never decreases), before framing
	emitted int64 // last real watermark emitted
	idleOut bool  // the last watermark emitted was Idle
	pending int64 // watermark to emit next; MinWatermark: none
	// crossAt is the lowest high mark of a partition that can schedule a
	// watermark (one frame past the last emitted, plus the lag): items
	// below it only raise their partition's high mark.
	crossAt int64

	restored map[string][]byte // positions being restored
}

type partState struct {
	max      int64 // highest event time seen
	lastSeen time.Time
	idle     bool
}

func (p *sourceP[T]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	p.now = time.Now
	p.wm, p.emitted, p.pending = dag.MinWatermark, dag.MinWatermark, dag.MinWatermark
	p.crossAt = math.MinInt64
	if p.out, err = outputs[T](ctx); err != nil {
		return err
	}
	if p.src.singleton && ctx.GlobalIndex != 0 {
		p.done = true
		p.parts = make([]partState, 1)
		p.pending = dag.Idle // a reader of nothing holds nothing back
		return nil
	}
	if p.r, err = p.src.open(ctx); err != nil {
		return fmt.Errorf("source %s: %w", p.src.name, err)
	}
	start := p.now()
	p.parts = make([]partState, max(p.r.Partitions(), 1))
	for i := range p.parts {
		p.parts[i] = partState{max: dag.MinWatermark, lastSeen: start}
	}
	return nil
}

func (p *sourceP[T]) Process(int, *dag.Inbox) error { return nil }

func (p *sourceP[T]) Complete() (bool, error) {
	if !p.flushWatermark() {
		return false, nil
	}
	if p.pos == len(p.buf) {
		if p.done {
			return true, nil
		}
		items, done, err := p.r.Read(p.buf[:0], 1024)
		if err != nil {
			return false, fmt.Errorf("source %s: %w", p.src.name, err)
		}
		p.buf, p.pos, p.done = items, 0, done
		if len(items) == 0 {
			p.markIdle()
			p.flushWatermark()
			return false, nil
		}
	}
	if !p.emit(p.now()) {
		return false, nil
	}
	clear(p.buf)
	// A partition quiet while the others deliver is idle too: it must not
	// hold back the watermark of the busy ones.
	p.markIdle()
	return false, nil
}

// emit stamps and emits the items of buf from pos, each after the
// watermark its time schedules; false means the outputs are full.
//
// It is the source's hot loop, so it does per item only what an item
// needs: its time, and a comparison with its partition's high mark and
// with crossAt, the time from which a watermark is due; the rest of
// observe runs only when one is. With one output over a local edge, the
// items go straight into the edge's batch (Emitter.Space), with no call per
// item.
func (p *sourceP[T]) emit(now time.Time) bool {
	timed := p.ts.kind != tsNone
	lastPart := -1 // the partition whose lastSeen is now
	e := p.out.single()
	for p.pos < len(p.buf) {
		var space []Timed[T]
		if e != nil {
			if space = e.Space(len(p.buf) - p.pos); space != nil && len(space) == 0 {
				return false // full
			}
		}
		k := 0
		for ; p.pos+k < len(p.buf); k++ {
			if space != nil && k == len(space) {
				break
			}
			it := &p.buf[p.pos+k]
			ts := p.stamp(it, now)
			if timed {
				part := it.Partition
				if part < 0 || part >= len(p.parts) || part != lastPart && p.parts[part].idle {
					lastPart = -1
					goto slow
				}
				ps := &p.parts[part]
				if part != lastPart {
					ps.lastSeen, lastPart = now, part
				}
				if ts > ps.max {
					if ts >= p.crossAt || p.idleOut {
						goto slow
					}
					ps.max = ts
				}
			}
			if space == nil {
				if !p.out.Offer(Timed[T]{TS: ts, V: it.V}) {
					p.pos += k
					return false
				}
				continue
			}
			space[k] = Timed[T]{TS: ts, V: it.V}
			continue
		slow:
			// A watermark may be due before this item: publish the items
			// before it, then take it the long way.
			if space != nil {
				e.Commit(k)
			}
			p.pos += k
			p.observe(it.Partition, ts, now)
			if !p.flushWatermark() || !p.out.Offer(Timed[T]{TS: ts, V: it.V}) {
				return false
			}
			p.pos++
			k = -1 // the batch starts again after this item
			break
		}
		if k < 0 {
			continue
		}
		if space != nil {
			e.Commit(k)
		}
		p.pos += k
	}
	return true
}

func (p *sourceP[T]) stamp(it *SourceItem[T], now time.Time) int64 {
	switch p.ts.kind {
	case tsEvent:
		return p.ts.event(it.V).UnixNano()
	case tsIngestion:
		return now.UnixNano()
	case tsNative:
		return it.TS
	}
	return 0
}

// observe updates the partition's high mark and, when the coalesced
// watermark crosses a frame, schedules it, to be emitted before the item: the
// items after a watermark are judged against it.
func (p *sourceP[T]) observe(part int, ts int64, now time.Time) {
	if part < 0 {
		part = 0
	}
	for part >= len(p.parts) {
		// A reader that started reading more partitions (a Kafka topic
		// that gained some): they count from their first item.
		p.parts = append(p.parts, partState{max: dag.MinWatermark, lastSeen: now})
	}
	ps := &p.parts[part]
	ps.lastSeen = now
	woke := ps.idle
	ps.idle = false
	if ts <= ps.max && !woke && !p.idleOut {
		return
	}
	ps.max = max(ps.max, ts)
	p.coalesce()
}

// coalesce schedules the watermark the partitions that are not idle allow,
// if it crosses a frame.
func (p *sourceP[T]) coalesce() {
	low, any := dag.Idle, false
	for i := range p.parts {
		if q := &p.parts[i]; !q.idle {
			any = true
			low = min(low, q.max)
		}
	}
	if !any || low == dag.MinWatermark {
		return
	}
	p.advance(low)
}

// advance schedules the watermark low allows, if it crosses a frame.
func (p *sourceP[T]) advance(low int64) {
	p.wm = max(p.wm, low-int64(p.ts.lag))
	f := int64(p.ts.frame)
	framed := p.wm - ((p.wm%f)+f)%f
	if framed > p.emitted || p.idleOut {
		// After Idle, the first watermark announces the source is active
		// again, even if it is not higher.
		p.pending = max(framed, p.emitted)
	}
}

// markIdle marks partitions that delivered nothing for the idle timeout;
// when all are idle the source emits Idle, so it stops holding back the
// watermark downstream.
func (p *sourceP[T]) markIdle() {
	if p.ts.kind == tsNone || p.idleOut || p.pending == dag.Idle {
		return
	}
	now := p.now()
	var quiet []int // partitions going idle now
	active := 0
	for i := range p.parts {
		if ps := &p.parts[i]; !ps.idle {
			active++
			if now.Sub(ps.lastSeen) >= p.ts.idle {
				quiet = append(quiet, i)
			}
		}
	}
	// Mark them idle one by one, the longest quiet first, as checks made
	// at every instant would have: each time, the partitions still
	// active may allow a higher watermark now that a quiet one no longer
	// holds them back. So the watermark does not depend on how often the
	// check runs; in particular, partitions going quiet together first
	// let it rise to what the last of them allows (else the windows they
	// filled would never close), then go idle.
	slices.SortStableFunc(quiet, func(a, b int) int {
		pa, pb := &p.parts[a], &p.parts[b]
		if c := pa.lastSeen.Compare(pb.lastSeen); c != 0 {
			return c
		}
		return cmp.Compare(pa.max, pb.max) // quiet as long: the one ahead last
	})
	for _, i := range quiet {
		p.parts[i].idle = true
		if active--; active > 0 {
			p.coalesce()
		}
	}
	if active == 0 && p.pending == dag.MinWatermark {
		// All idle. A watermark scheduled above goes out first; Idle
		// follows on the next check.
		p.pending = dag.Idle
	}
}

// flushWatermark emits the scheduled watermark; false means the outputs are
// full (it stays scheduled).
func (p *sourceP[T]) flushWatermark() bool {
	if p.pending == dag.MinWatermark {
		return true
	}
	if !p.ctx.EmitWatermark(p.pending) {
		return false
	}
	if p.pending == dag.Idle {
		p.idleOut = true
	} else {
		p.emitted, p.idleOut = p.pending, false
		p.crossAt = math.MinInt64
		if f, lag := int64(p.ts.frame), int64(p.ts.lag); p.emitted != dag.MinWatermark && p.emitted <= math.MaxInt64-f-lag {
			p.crossAt = p.emitted + f + lag
		}
	}
	p.pending = dag.MinWatermark
	return true
}

func (p *sourceP[T]) Close() error {
	if p.r != nil {
		return p.r.Close()
	}
	return nil
}

// SaveSnapshot saves the reader's positions.
func (p *sourceP[T]) SaveSnapshot(w *dag.SnapshotWriter) (bool, error) {
	pr, ok := p.r.(Positioned)
	if !ok {
		return true, nil
	}
	// Items read but not yet emitted are read again after a restore.
	if p.pos < len(p.buf) {
		return false, nil // emit them first: positions are past them
	}
	positions, err := pr.Positions()
	if err != nil {
		return false, fmt.Errorf("source %s: %w", p.src.name, err)
	}
	for part, pos := range positions {
		if err := dag.SaveBroadcast(w, part, pos); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (p *sourceP[T]) RestoreSnapshot(key, value []byte) error {
	part, pos, err := dag.LoadEntry[string, []byte](key, value)
	if err != nil {
		return err
	}
	if p.restored == nil {
		p.restored = map[string][]byte{}
	}
	p.restored[part] = pos
	return nil
}

func (p *sourceP[T]) FinishRestore() error {
	pr, ok := p.r.(Positioned)
	if !ok || p.restored == nil {
		return nil
	}
	err := pr.Seek(p.restored)
	p.restored = nil
	if err != nil {
		return fmt.Errorf("source %s: %w", p.src.name, err)
	}
	return nil
}
