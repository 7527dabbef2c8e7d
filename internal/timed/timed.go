// Package timed holds the item a pipeline carries along its edges: a value
// with its event time. It lives apart from pipeline so that the engine (dag)
// can give such edges their fast codec without importing pipeline, which
// sits above it; pipeline.Timed is an alias of Item.
package timed

import (
	"fmt"

	"github.com/weir-dev/weir/internal/codec"
)

// Item is a value with its event time (unix nanoseconds).
type Item[T any] struct {
	TS int64 `msgpack:"t"`
	V  T     `msgpack:"v"`
}

// codec gives Item edges a fast encoding: the time, then the item with its
// own codec.
func (Item[T]) codec() codec.Codec[Item[T]] {
	inner := codec.For[T]()
	ts := codec.For[int64]()
	next := func(b []byte) (Item[T], int, error) {
		t, n, err := ts.Next(b)
		if err != nil {
			return Item[T]{}, 0, err
		}
		v, m, err := inner.Next(b[n:])
		if err != nil {
			return Item[T]{}, 0, err
		}
		return Item[T]{TS: t, V: v}, n + m, nil
	}
	return codec.Codec[Item[T]]{
		Append: func(dst []byte, v Item[T]) ([]byte, error) {
			return inner.Append(codec.AppendInt(dst, v.TS), v.V)
		},
		Next: next,
		Decode: func(b []byte) (Item[T], error) {
			v, n, err := next(b)
			if err == nil && n != len(b) {
				err = fmt.Errorf("%w: %d trailing bytes", codec.ErrType, len(b)-n)
			}
			return v, err
		},
	}
}

type ownCodec[T any] interface{ codec() codec.Codec[T] }

// Codec returns T's own codec if T has one (T is an Item), and false
// otherwise.
func Codec[T any]() (codec.Codec[T], bool) {
	var zero T
	if oc, ok := any(zero).(ownCodec[T]); ok {
		return oc.codec(), true
	}
	return codec.Codec[T]{}, false
}
