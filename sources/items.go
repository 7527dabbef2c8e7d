package sources

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Items is a bounded source of fixed items, for tests and examples. Item i
// belongs to map partition i modulo the partition count, and each instance
// reads, in order, the items of the partitions the job assigns it, so every
// item is read once whatever the member count. The source is replayable: it
// saves the next item of each partition.
//
//	lines := pipeline.ReadFrom(pl, sources.Items("to be or", "not to be"), pipeline.NoTimestamps[string]())
func Items[T any](items ...T) pipeline.Source[T] {
	return pipeline.NewSource("items", func(ctx *dag.Context) (pipeline.Reader[T], error) {
		r := &itemsReader[T]{items: items, parts: ctx.PartitionCount(), next: map[int]int{}}
		for _, p := range ctx.Partitions() {
			r.next[p] = p
		}
		return r, nil
	}, pipeline.Replayable())
}

type itemsReader[T any] struct {
	items  []T
	parts  int
	next   map[int]int // partition -> index of its next item
	cursor int         // no owned item before it is unread
}

func (r *itemsReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	for ; r.cursor < len(r.items) && max > 0; r.cursor++ {
		p := r.cursor % r.parts
		if n, ok := r.next[p]; ok && n == r.cursor {
			buf = append(buf, pipeline.SourceItem[T]{V: r.items[r.cursor]})
			r.next[p] = n + r.parts
			max--
		}
	}
	return buf, r.cursor >= len(r.items), nil
}

func (r *itemsReader[T]) Partitions() int { return 1 }
func (r *itemsReader[T]) Close() error    { return nil }

func (r *itemsReader[T]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.next))
	for p, n := range r.next {
		out[strconv.Itoa(p)] = binary.AppendUvarint(nil, uint64(n))
	}
	return out, nil
}

func (r *itemsReader[T]) Seek(positions map[string][]byte) error {
	r.cursor = len(r.items)
	for p := range r.next {
		pos, ok := positions[strconv.Itoa(p)]
		if !ok {
			r.next[p] = p
			r.cursor = min(r.cursor, p)
			continue
		}
		n, k := binary.Uvarint(pos)
		if k <= 0 {
			return fmt.Errorf("items source: bad position for partition %d", p)
		}
		r.next[p] = int(n)
		r.cursor = min(r.cursor, int(n))
	}
	return nil
}
