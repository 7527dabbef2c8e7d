package pipeline

import (
	"hash/maphash"
	"iter"
	"math/bits"
	"reflect"
	"unsafe"
)

// keyTable maps keys to int32 positions: the index of the windowing stages'
// keys, looked up once per item. It is an open-addressing table with
// linear probing, specialised by the key's kind when it is made: integer
// keys are hashed by a multiplication (Fibonacci hashing) on their bits,
// strings and other comparable keys by hash/maphash, and a key of no size
// (WindowAll's struct{}) takes one slot. A Go map of the same keys costs
// about three times as much per lookup in the Q5 benchmark (dagbench), most
// of it in the generic probing of its groups.
//
// The zero keyTable is not usable: call init.
type keyTable[K comparable] struct {
	slots []tableSlot[K]
	shift uint8 // 64 - log2(len(keys))
	n     int   // keys held
	kind  keyKind
	seed  maphash.Seed
}

// tableSlot is a key and its position side by side: a lookup touches one
// cache line.
type tableSlot[K comparable] struct {
	key K
	pos int32 // position + 1; 0 marks an empty slot
}

type keyKind uint8

const (
	keyOther keyKind = iota
	key64            // integers of 8 bytes
	key32            // of 4
	keyString
	keyEmpty // a type of no size: one key
)

const minTableSize = 16

func (t *keyTable[K]) init() {
	t.kind = kindOf[K]()
	t.seed = maphash.MakeSeed()
	t.resize(minTableSize)
}

func kindOf[K comparable]() keyKind {
	typ := reflect.TypeFor[K]()
	switch typ.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if typ.Size() == 8 {
			return key64
		}
		return key32
	case reflect.Int32, reflect.Uint32:
		return key32
	case reflect.String:
		return keyString
	}
	if typ.Size() == 0 {
		return keyEmpty
	}
	return keyOther
}

// slot is where k's probe starts.
func (t *keyTable[K]) slot(k K) uint64 {
	var h uint64
	switch t.kind {
	case key64:
		h = *(*uint64)(unsafe.Pointer(&k))
	case key32:
		h = uint64(*(*uint32)(unsafe.Pointer(&k)))
	case keyString:
		return maphash.String(t.seed, *(*string)(unsafe.Pointer(&k))) >> t.shift
	case keyEmpty:
		return 0
	default:
		return maphash.Comparable(t.seed, k) >> t.shift
	}
	return (h * 0x9e3779b97f4a7c15) >> t.shift
}

// get returns k's position.
func (t *keyTable[K]) get(k K) (int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.pos == 0 {
			return 0, false
		}
		if s.key == k {
			return s.pos - 1, true
		}
	}
}

// put sets k's position; k must not be in the table.
func (t *keyTable[K]) put(k K, pos int32) {
	if (t.n+1)*4 > len(t.slots)*3 { // at most 3/4 full
		t.resize(len(t.slots) * 2)
	}
	mask := uint64(len(t.slots) - 1)
	i := t.slot(k)
	for t.slots[i].pos != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = tableSlot[K]{key: k, pos: pos + 1}
	t.n++
}

// delete removes k, if it is there, moving back the keys probed past its
// slot (backward-shift deletion: no tombstones).
func (t *keyTable[K]) delete(k K) {
	mask := uint64(len(t.slots) - 1)
	i := t.slot(k)
	for {
		if t.slots[i].pos == 0 {
			return
		}
		if t.slots[i].key == k {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].pos != 0; j = (j + 1) & mask {
		// Move the key at j into the hole at i unless its probe starts in
		// (i, j]: it would no longer be found.
		if home := t.slot(t.slots[j].key); (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = tableSlot[K]{}
	t.n--
}

// reset empties the table, keeping its memory.
func (t *keyTable[K]) reset() {
	if t.n == 0 {
		return
	}
	clear(t.slots)
	t.n = 0
}

func (t *keyTable[K]) resize(size int) {
	old := t.slots
	t.slots = make([]tableSlot[K], size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	t.n = 0
	for _, s := range old {
		if s.pos != 0 {
			t.put(s.key, s.pos-1)
		}
	}
}

// len is the number of keys held.
func (t *keyTable[K]) len() int { return t.n }

// all yields every key and its position, in no particular order.
func (t *keyTable[K]) all() iter.Seq2[K, int32] {
	return func(yield func(K, int32) bool) {
		for _, s := range t.slots {
			if s.pos != 0 && !yield(s.key, s.pos-1) {
				return
			}
		}
	}
}
