package sources

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
)

// Start says where a journal source begins.
type Start uint8

const (
	// FromOldest starts from the oldest event each partition's journal holds.
	FromOldest Start = iota
	// FromNow starts after the newest event when the job starts.
	FromNow
)

// MapJournal is a streaming source of the changes of a distributed map
// created WithJournal: every member reads the journals of the partitions it
// owns, so events are read where they are stored. It is replayable: it saves
// the next sequence of each partition, so a job with a processing guarantee
// resumes exactly where its last snapshot was. Events carry their time of
// change as native timestamps.
//
// If a job falls so far behind that a journal has overwritten events it had
// not read, it fails with grid.ErrStaleSequence rather than skip them
// silently: size the journal for the longest outage to survive. A journal
// that ends before the position already read (a member's stale copy
// answering while a healed network partition settles) is waited out for up
// to 30 s; after that the job fails rather than read events twice or skip
// them.
//
//	grid.GetMap[string, Position](m, "positions", grid.WithJournal(10_000)) // where the map is defined
//	...
//	events := pipeline.ReadFrom(pl, sources.MapJournal[string, Position]("positions", sources.FromNow),
//		pipeline.NativeTime[grid.Event[string, Position]](time.Second))
func MapJournal[K comparable, V any](mapName string, start Start) pipeline.Source[grid.Event[K, V]] {
	return pipeline.NewSource("journal-"+mapName, func(ctx *dag.Context) (pipeline.Reader[grid.Event[K, V]], error) {
		r := &journalReader[K, V]{ctx: ctx, m: grid.GetMap[K, V](ctx, mapName), parts: ctx.Partitions(), start: start}
		r.next = make([]uint64, len(r.parts))
		r.known = make([]bool, len(r.parts))
		r.behind = make([]time.Time, len(r.parts))
		return r, nil
	}, pipeline.Replayable())
}

type journalReader[K comparable, V any] struct {
	ctx   *dag.Context
	m     *grid.Map[K, V]
	parts []int    // map partitions read
	next  []uint64 // next sequence, per index in parts
	known []bool   // next is set (else: from start)
	start Start
	turn  int
	// behind records, per index in parts, since when the journal answering
	// for the partition has ended before next (see Read).
	behind []time.Time
}

// journalBehindLimit is how long a journal may answer from behind what the
// reader already read before the reader fails: long enough for the cluster
// to settle after a healed network partition.
const journalBehindLimit = 30 * time.Second

func (r *journalReader[K, V]) Partitions() int { return len(r.parts) }
func (r *journalReader[K, V]) Close() error    { return nil }

// Read takes what the journals hold, a few partitions at a time, never
// waiting for new events.
func (r *journalReader[K, V]) Read(buf []pipeline.SourceItem[grid.Event[K, V]], max int) ([]pipeline.SourceItem[grid.Event[K, V]], bool, error) {
	for tries := 0; tries < len(r.parts) && len(buf) < max; tries++ {
		i := r.turn % len(r.parts)
		r.turn++
		if !r.known[i] {
			if err := r.init(i); err != nil {
				return buf, false, err
			}
		}
		batch, err := r.m.Partitioned().ReadJournal(r.ctx.Context(), r.parts[i], r.next[i], max-len(buf))
		if err != nil {
			if errors.Is(err, grid.ErrStaleSequence) {
				return buf, false, fmt.Errorf("map %s partition %d: events %d to %d were overwritten before this job read them: %w",
					r.m.Name(), r.parts[i], r.next[i], batch.Oldest-1, err)
			}
			return buf, false, err
		}
		if len(batch.Events) == 0 && batch.Next < r.next[i] {
			if err := r.answeredBehind(i, batch.Next); err != nil {
				return buf, false, err
			}
			continue
		}
		r.behind[i] = time.Time{}
		for _, e := range batch.Events {
			buf = append(buf, pipeline.SourceItem[grid.Event[K, V]]{V: e, Partition: i, TS: e.Time.UnixNano()})
		}
		r.next[i] = batch.Next
	}
	return buf, false, nil
}

// answeredBehind handles a journal that ends before the sequence partition
// i's reader has reached. A partition's journal numbers its events for
// good, so that journal is not the one the reader read: a member with a
// stale or empty copy answered, while a healed network partition settles.
// Taking its end as the next sequence would read events again under the
// numbers the real journal gives them later, and skip others; the reader
// waits for the real journal instead, and fails if it does not come back.
func (r *journalReader[K, V]) answeredBehind(i int, end uint64) error {
	now := time.Now()
	if r.behind[i].IsZero() {
		r.behind[i] = now
		return nil
	}
	if now.Sub(r.behind[i]) < journalBehindLimit {
		return nil
	}
	return fmt.Errorf("map %s partition %d: the journal ends at sequence %d, before %d, which this job has read, for %v: its events were lost or renumbered",
		r.m.Name(), r.parts[i], end, r.next[i], journalBehindLimit)
}

// init places partition i's reader at the oldest or the newest event.
func (r *journalReader[K, V]) init(i int) error {
	r.known[i] = true
	if r.start == FromOldest {
		b, err := r.m.Partitioned().ReadJournal(r.ctx.Context(), r.parts[i], 0, 0)
		if errors.Is(err, grid.ErrStaleSequence) {
			r.next[i] = b.Oldest
			return nil
		}
		r.next[i] = 0
		return err
	}
	// The end: read from far ahead and take where it says the journal ends.
	b, err := r.m.Partitioned().ReadJournal(r.ctx.Context(), r.parts[i], 1<<62, 0)
	r.next[i] = b.Next
	return err
}

func (r *journalReader[K, V]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts))
	for i, p := range r.parts {
		if r.known[i] {
			out[strconv.Itoa(p)] = strconv.AppendUint(nil, r.next[i], 10)
		}
	}
	return out, nil
}

func (r *journalReader[K, V]) Seek(positions map[string][]byte) error {
	for i, p := range r.parts {
		pos, ok := positions[strconv.Itoa(p)]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(pos), 10, 64)
		if err != nil {
			return fmt.Errorf("journal source: bad position %q for partition %d", pos, p)
		}
		r.next[i], r.known[i] = n, true
	}
	return nil
}
