package dag

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/timed"
	"github.com/weir-dev/weir/member"
)

// batch is the unit that moves through queues: a typed slice of items.
// Batches are recycled through their edge's pool once consumed, unless
// shared by a broadcast.
type batch[T any] struct {
	items  []T
	dest   int  // destination instance on the receiving member, for remote batches
	shared bool // seen by several consumers: read-only, never recycled
	// msg is the received message the items share memory with, on an edge
	// that reuses memory (Edge.ReuseMemory): recycling the batch gives it
	// back to its stream, from.
	msg  []byte
	from *member.Stream
}

// edgeType is what the engine needs to know about an edge's item type.
type edgeType interface {
	name() string
	// batchLen is the number of items in a batch element.
	batchLen(b any) int
	recycle(b any)
	// encode appends a batch's items to dst; decode makes a batch of them.
	encode(dst []byte, b any) ([]byte, error)
	decode(src []byte, dest int) (any, error)
	// aliases reports whether decoded items may share the memory of the
	// message they were decoded from (strings, byte slices); items of a
	// type without pointers never do.
	aliases() bool
	// keepMessage ties msg, which batch b was decoded from, to b: recycling
	// b gives msg back to from.
	keepMessage(b any, msg []byte, from *member.Stream)
	// newOutput makes one producer instance's output for the edge.
	newOutput(r *route) output
}

type typedEdge[T any] struct {
	c    codec.SliceCodec[T] // a batch's items at once: no call per item
	pool sync.Pool
	// alias is set when T has pointers, which decoding may point into the
	// message.
	alias bool
	// newPartitionFn makes a key-to-partition function, for partitioned edges.
	newPartitionFn func(n int) func(T) int
}

func newEdgeType[T any]() edgeType {
	alias := !pointerFree(reflect.TypeFor[T]())
	if c, ok := timed.Codec[T](); ok {
		return &typedEdge[T]{c: codec.SliceOf(c), alias: alias}
	}
	return &typedEdge[T]{c: codec.SliceFor[T](), alias: alias}
}

// pointerFree reports whether values of type t hold no pointers: numbers,
// booleans, and arrays and structs of them.
func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

func (t *typedEdge[T]) aliases() bool { return t.alias }

func (t *typedEdge[T]) keepMessage(b any, msg []byte, from *member.Stream) {
	bt := b.(*batch[T])
	bt.msg, bt.from = msg, from
}

// setKey installs the key function of a partitioned edge.
func (t *typedEdge[T]) setKey(key interface{ partitionFn() func(int) func(T) int }) {
	t.newPartitionFn = key.partitionFn()
}

func (t *typedEdge[T]) name() string { return reflect.TypeFor[T]().String() }

func (t *typedEdge[T]) get(limit int) *batch[T] {
	if b, ok := t.pool.Get().(*batch[T]); ok && cap(b.items) >= limit {
		return b
	}
	return &batch[T]{items: make([]T, 0, limit)}
}

func (t *typedEdge[T]) batchLen(b any) int { return len(b.(*batch[T]).items) }

func (t *typedEdge[T]) recycle(b any) {
	bt := b.(*batch[T])
	if bt.shared {
		return
	}
	if bt.from != nil {
		bt.from.Recycle(bt.msg)
		bt.msg, bt.from = nil, nil
	}
	clear(bt.items)
	bt.items = bt.items[:0]
	t.pool.Put(bt)
}

func (t *typedEdge[T]) encode(dst []byte, b any) ([]byte, error) {
	items := b.(*batch[T]).items
	dst = codec.AppendUint(dst, uint64(len(items)))
	return t.c.Append(dst, items)
}

func (t *typedEdge[T]) decode(src []byte, dest int) (any, error) {
	n, rest, err := codec.ReadUint(src)
	if err != nil || n > uint64(len(rest)) {
		return nil, fmt.Errorf("bad batch header")
	}
	b := t.get(int(n))
	b.dest = dest
	// Items may alias src: the receiver gives a message back to the
	// connection only when they cannot (aliases is false).
	items, size, err := t.c.Next(rest, int(n), b.items)
	if err != nil {
		clear(items)
		b.items = items[:0]
		t.pool.Put(b)
		return nil, err
	}
	b.items = items
	if rest = rest[size:]; len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after a batch", len(rest))
	}
	return b, nil
}

// keyFunc adapts a typed key function to the partition function factory.
type keyFunc[T any, K comparable] func(T) K

func (k keyFunc[T, K]) partitionFn() func(int) func(T) int {
	kc := codec.For[K]()
	return func(n int) func(T) int {
		var scratch []byte
		return func(v T) int {
			var err error
			scratch, err = kc.Append(scratch[:0], k(v))
			if err != nil {
				// Keys that cannot be encoded are a programming error of the
				// key function; they all go to one partition rather than crash.
				return 0
			}
			return keys.Partition(scratch, n)
		}
	}
}

// batchDest and markShared reach into a batch of any item type.
type batchMeta interface {
	destination() int
	share()
}

func (b *batch[T]) destination() int { return b.dest }
func (b *batch[T]) share()           { b.shared = true }

func batchDest(el any) int { return el.(batchMeta).destination() }
func markShared(el any)    { el.(batchMeta).share() }
