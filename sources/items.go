package sources

import (
	"encoding/binary"
	"errors"

	"github.com/weir-dev/weir/dag"
)

// Items is a bounded source of fixed items, for tests and examples. The
// instances share the items round robin (item i goes to instance i modulo
// the total parallelism), and each remembers how far it got, so the source
// is replayable.
func Items[T any](items ...T) dag.Source[T] {
	return dag.NewSource("items", func(ctx *dag.Context) (dag.Reader[T], error) {
		return &itemsReader[T]{items: items, next: ctx.GlobalIndex, step: ctx.TotalParallelism}, nil
	}, dag.Replayable())
}

type itemsReader[T any] struct {
	items      []T
	next, step int
}

func (r *itemsReader[T]) Read(buf []dag.SourceItem[T], max int) ([]dag.SourceItem[T], bool, error) {
	for ; r.next < len(r.items) && max > 0; r.next += r.step {
		buf = append(buf, dag.SourceItem[T]{V: r.items[r.next]})
		max--
	}
	return buf, r.next >= len(r.items), nil
}

func (r *itemsReader[T]) Partitions() int { return 1 }
func (r *itemsReader[T]) Close() error    { return nil }

func (r *itemsReader[T]) Position() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(r.next)), nil
}

func (r *itemsReader[T]) Seek(pos []byte) error {
	n, k := binary.Uvarint(pos)
	if k <= 0 {
		return errors.New("items source: bad position")
	}
	r.next = int(n)
	return nil
}
