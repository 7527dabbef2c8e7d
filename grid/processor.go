package grid

import (
	"fmt"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/wire"
)

// Action is what an entry processor does with the entry.
type Action uint8

// Entry processor actions.
const (
	Keep   Action = iota // leave the entry as it was
	Set                  // store the returned value
	Remove               // remove the entry
)

// Processor is a registered entry processor with key type K, value type V,
// argument A and result R. See RegisterProcessor.
type Processor[K comparable, V, A, R any] struct{ name string }

// Name is the name the processor was registered under.
func (p Processor[K, V, A, R]) Name() string { return p.name }

type procOutcome struct {
	action Action
	value  []byte
	result []byte
	// ttl is the entry's new time to live in ns (<= 0: none), when setsTTL:
	// a processor registered with RegisterTTLProcessor decides the expiry
	// of what it stores.
	ttl     int64
	setsTTL bool
}

type rawProcessor interface {
	run(key, value []byte, exists bool, arg []byte) (procOutcome, error)
}

type typedProcessor[K comparable, V, A, R any] struct {
	fn func(key K, value V, exists bool, arg A) (V, Action, R, error)
}

func (tp typedProcessor[K, V, A, R]) run(kb, vb []byte, exists bool, ab []byte) (procOutcome, error) {
	var k K
	var v V
	var a A
	if err := wire.Unmarshal(kb, &k); err != nil {
		return procOutcome{}, fmt.Errorf("decode key: %w", err)
	}
	if exists {
		if err := wire.Unmarshal(vb, &v); err != nil {
			return procOutcome{}, fmt.Errorf("%w: %v", ErrWrongType, err)
		}
	}
	if len(ab) > 0 {
		if err := wire.Unmarshal(ab, &a); err != nil {
			return procOutcome{}, fmt.Errorf("decode argument: %w", err)
		}
	}
	nv, action, r, err := callProcessor(tp.fn, k, v, exists, a)
	if err != nil {
		return procOutcome{}, err
	}
	out := procOutcome{action: action}
	if action == Set {
		if out.value, err = keys.Encode(nv); err != nil {
			return procOutcome{}, fmt.Errorf("encode value: %w", err)
		}
	}
	if out.result, err = keys.Encode(r); err != nil {
		return procOutcome{}, fmt.Errorf("encode result: %w", err)
	}
	return out, nil
}

func callProcessor[K comparable, V, A, R any](fn func(K, V, bool, A) (V, Action, R, error), k K, v V, exists bool, a A) (nv V, action Action, r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	return fn(k, v, exists, a)
}

var processors sync.Map // name -> rawProcessor

// RegisterProcessor registers an entry processor under name, in every binary
// that runs members (typically from an init function): Go cannot ship
// closures, so what travels is the name and the argument. The processor runs
// on the key's owner, atomically with respect to every other write to the
// key: it receives the current value (exists false if there is none) and
// the argument, and returns the new value, what to do with it, and a result
// for the caller. Registering a name twice panics.
func RegisterProcessor[K comparable, V, A, R any](name string, fn func(key K, value V, exists bool, arg A) (V, Action, R, error)) Processor[K, V, A, R] {
	if _, dup := processors.LoadOrStore(name, typedProcessor[K, V, A, R]{fn: fn}); dup {
		panic("grid: entry processor " + name + " registered twice")
	}
	return Processor[K, V, A, R]{name: name}
}

// ttlRunner is a processor that sees the entry's time to live and sets it.
type ttlRunner interface {
	runTTL(key, value []byte, exists bool, ttl int64, arg []byte) (procOutcome, error)
}

type ttlProcessor[K comparable, V, A, R any] struct {
	fn func(key K, value V, exists bool, ttl time.Duration, arg A) (V, time.Duration, Action, R, error)
}

func (tp ttlProcessor[K, V, A, R]) run(kb, vb []byte, exists bool, ab []byte) (procOutcome, error) {
	return tp.runTTL(kb, vb, exists, 0, ab)
}

func (tp ttlProcessor[K, V, A, R]) runTTL(kb, vb []byte, exists bool, ttl int64, ab []byte) (procOutcome, error) {
	var newTTL time.Duration
	out, err := typedProcessor[K, V, A, R]{fn: func(k K, v V, exists bool, a A) (V, Action, R, error) {
		nv, d, action, r, err := tp.fn(k, v, exists, time.Duration(ttl), a)
		newTTL = d
		return nv, action, r, err
	}}.run(kb, vb, exists, ab)
	out.ttl, out.setsTTL = int64(newTTL), true
	return out, err
}

// RegisterTTLProcessor registers an entry processor, as RegisterProcessor
// does, that also sees and sets the entry's time to live: ttl is what the
// entry has left (0: it never expires, or there is no entry), and when the
// processor returns Set, the time to live it returns is the stored entry's
// (0 or less: it never expires, whatever the map's default). Returning the
// ttl it was given keeps the entry's expiry as it was. Redis's INCR (which
// keeps a key's expiry), EXPIRE and PERSIST are processors of this kind.
func RegisterTTLProcessor[K comparable, V, A, R any](name string, fn func(key K, value V, exists bool, ttl time.Duration, arg A) (V, time.Duration, Action, R, error)) Processor[K, V, A, R] {
	if _, dup := processors.LoadOrStore(name, ttlProcessor[K, V, A, R]{fn: fn}); dup {
		panic("grid: entry processor " + name + " registered twice")
	}
	return Processor[K, V, A, R]{name: name}
}

func lookupProcessor(name string) (rawProcessor, bool) {
	p, ok := processors.Load(name)
	if !ok {
		return nil, false
	}
	return p.(rawProcessor), true
}

// actions as the apply loop names them.
const (
	actionKeep   = Keep
	actionSet    = Set
	actionDelete = Remove
)
