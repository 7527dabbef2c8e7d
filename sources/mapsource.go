package sources

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/pipeline"
)

// Map is a bounded source of the entries of a distributed map, as
// pipeline.KV[K, V] (Key and Value), so a job can write them on with sinks.Map.
// Each instance reads the map partitions assigned to it by the job (those
// its member owned when the job started), one partition at a time, each read
// whole from its owner at one moment with grid.Map.ScanPartition: every
// entry present during the whole job is read exactly once; an entry written
// during it may or may not be. A partition that migrated meanwhile is read
// from its new owner. A map that does not exist reads as empty.
//
// Map is replayable. In a job with a processing guarantee each partition's
// entries are read in the order of their encoded keys, and the position of a
// partition is the last key read (or "done"), so a restarted job resumes in
// the middle of a partition without reading an entry twice. (Without a
// guarantee the entries are not sorted, which costs nothing.)
//
//	fleet := pipeline.ReadFrom(pl, sources.Map[string, Vehicle]("vehicles"), pipeline.NoTimestamps[pipeline.KV[string, Vehicle]]())
//	heavy := pipeline.Filter(fleet, func(e pipeline.KV[string, Vehicle]) bool { return e.Value.MaxLoadKg > 12000 })
func Map[K comparable, V any](mapName string) pipeline.Source[pipeline.KV[K, V]] {
	return pipeline.NewSource("map-"+mapName, func(ctx *dag.Context) (pipeline.Reader[pipeline.KV[K, V]], error) {
		return newMapReader(ctx.Context(), grid.GetMap[K, V](ctx, mapName), ctx.Partitions(), ctx.Guarantee != dag.None), nil
	}, pipeline.Replayable())
}

// mapLoadsPerRead bounds the partitions one Read fetches.
const mapLoadsPerRead = 16

// mapReader reads its partitions one after the other.
type mapReader[K comparable, V any] struct {
	ctx     context.Context
	m       *grid.Map[K, V]
	parts   []int
	state   []mapPos // per index in parts
	ordered bool     // sort each partition by encoded key (for positions)
	kc      codec.Codec[K]

	i       int // index in parts of the partition being read
	loaded  bool
	entries []pipeline.KV[K, V]
	keys    [][]byte // encoded keys of entries, when ordered
	next    int      // next entry to emit
}

// mapPos is where a partition is: done, or past the entry with key after
// (encoded; nil: at its start).
type mapPos struct {
	done  bool
	after []byte
}

func newMapReader[K comparable, V any](ctx context.Context, m *grid.Map[K, V], parts []int, ordered bool) *mapReader[K, V] {
	return &mapReader[K, V]{ctx: ctx, m: m, parts: parts, state: make([]mapPos, len(parts)), ordered: ordered, kc: codec.For[K]()}
}

func (r *mapReader[K, V]) Read(buf []pipeline.SourceItem[pipeline.KV[K, V]], max int) ([]pipeline.SourceItem[pipeline.KV[K, V]], bool, error) {
	loads := 0
	for len(buf) < max {
		if !r.loaded {
			if r.i == len(r.parts) {
				return buf, true, nil
			}
			if r.state[r.i].done {
				r.i++
				continue
			}
			// A call stays short: it fetches one partition with entries to
			// emit, or a few empty ones (a Read returning nothing makes the
			// engine back off, which a map of many empty partitions would
			// pay for each).
			if loads > 0 && (len(buf) > 0 || loads >= mapLoadsPerRead) {
				break
			}
			loads++
			if err := r.load(); err != nil {
				return buf, false, err
			}
		}
		if r.next == len(r.entries) {
			r.state[r.i].done = true
			r.i++
			r.loaded, r.entries, r.keys = false, r.entries[:0], r.keys[:0]
			continue
		}
		n := min(len(r.entries)-r.next, max-len(buf))
		for _, e := range r.entries[r.next : r.next+n] {
			buf = append(buf, pipeline.SourceItem[pipeline.KV[K, V]]{V: e})
		}
		r.next += n
		if r.ordered {
			r.state[r.i].after = r.keys[r.next-1]
		}
	}
	return buf, false, nil
}

// load reads partition parts[i] whole; ordered, it sorts it by encoded key
// and drops the entries up to the saved position.
func (r *mapReader[K, V]) load() error {
	p := r.parts[r.i]
	r.entries, r.keys, r.next = r.entries[:0], r.keys[:0], 0
	err := r.m.Partitioned().Scan(r.ctx, p, func(k K, v V) bool {
		r.entries = append(r.entries, pipeline.KV[K, V]{Key: k, Value: v})
		return true
	})
	if err != nil {
		return fmt.Errorf("map %s partition %d: %w", r.m.Name(), p, err)
	}
	if r.ordered {
		for _, e := range r.entries {
			kb, err := r.kc.Encode(e.Key)
			if err != nil {
				return fmt.Errorf("map %s partition %d: encode key: %w", r.m.Name(), p, err)
			}
			r.keys = append(r.keys, kb)
		}
		sort.Sort(byKey[K, V]{r.entries, r.keys})
		if after := r.state[r.i].after; after != nil {
			r.next, _ = slices.BinarySearchFunc(r.keys, after, bytes.Compare)
			if r.next < len(r.keys) && bytes.Equal(r.keys[r.next], after) {
				r.next++
			}
		}
	}
	r.loaded = true
	return nil
}

// byKey sorts entries with their encoded keys.
type byKey[K comparable, V any] struct {
	entries []pipeline.KV[K, V]
	keys    [][]byte
}

func (b byKey[K, V]) Len() int           { return len(b.keys) }
func (b byKey[K, V]) Less(i, j int) bool { return bytes.Compare(b.keys[i], b.keys[j]) < 0 }
func (b byKey[K, V]) Swap(i, j int) {
	b.entries[i], b.entries[j] = b.entries[j], b.entries[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

func (r *mapReader[K, V]) Partitions() int { return 1 }
func (r *mapReader[K, V]) Close() error    { return nil }

// Positions saves, per partition, "d" when it is done, or "k" and the last
// key read.
func (r *mapReader[K, V]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts))
	for i, p := range r.parts {
		switch s := r.state[i]; {
		case s.done:
			out[strconv.Itoa(p)] = []byte("d")
		case s.after != nil:
			out[strconv.Itoa(p)] = append([]byte("k"), s.after...)
		}
	}
	return out, nil
}

func (r *mapReader[K, V]) Seek(positions map[string][]byte) error {
	r.i, r.loaded, r.next = 0, false, 0
	for i, p := range r.parts {
		r.state[i] = mapPos{}
		b, ok := positions[strconv.Itoa(p)]
		switch {
		case !ok:
		case string(b) == "d":
			r.state[i].done = true
		case len(b) > 0 && b[0] == 'k':
			r.state[i].after = b[1:]
		default:
			return fmt.Errorf("map %s: bad position %q for partition %d", r.m.Name(), b, p)
		}
	}
	return nil
}
