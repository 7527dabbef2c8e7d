package resp

import (
	"math"
	"strconv"
	"time"

	"github.com/weir-dev/weir/grid"
)

// The commands that read and change an entry in one step run as entry
// processors on the key's owner: atomic with every other write to the key,
// and, since a processor call carries a request ID that the owner and its
// backups record, applied once even when the call is retried after the
// owner died. Every binary that runs members links them (weir.Start's
// binaries do, through this package).

// numResult is INCR's answer: the new value, or why there is none.
type numResult struct {
	N   int64  `msgpack:"n"`
	Err string `msgpack:"e,omitempty"`
}

const (
	errNotInteger = "ERR value is not an integer or out of range"
	errOverflow   = "ERR increment or decrement would overflow"
)

// incr adds its argument to the entry's integer, keeping its expiry (as
// Redis does); a missing entry counts as 0.
var incr = grid.RegisterTTLProcessor("resp.incr", func(_ string, v string, exists bool, ttl time.Duration, by int64) (string, time.Duration, grid.Action, numResult, error) {
	var n int64
	if exists {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || len(v) > 20 {
			return v, ttl, grid.Keep, numResult{Err: errNotInteger}, nil
		}
	}
	if (by > 0 && n > math.MaxInt64-by) || (by < 0 && n < math.MinInt64-by) {
		return v, ttl, grid.Keep, numResult{Err: errOverflow}, nil
	}
	n += by
	return strconv.FormatInt(n, 10), ttl, grid.Set, numResult{N: n}, nil
})

// appendStr appends its argument to the entry's string, keeping its
// expiry, and returns the new length.
var appendStr = grid.RegisterTTLProcessor("resp.append", func(_ string, v string, _ bool, ttl time.Duration, tail string) (string, time.Duration, grid.Action, int64, error) {
	v += tail
	return v, ttl, grid.Set, int64(len(v)), nil
})

// setArgs is SET with options: EX/PX/EXAT/PXAT (TTL, or KeepTTL), NX/XX
// and GET.
type setArgs struct {
	Value   string `msgpack:"v"`
	TTL     int64  `msgpack:"t,omitempty"` // ns; 0: none
	KeepTTL bool   `msgpack:"k,omitempty"`
	NX      bool   `msgpack:"n,omitempty"`
	XX      bool   `msgpack:"x,omitempty"`
}

// oldValue is an entry's value before a change, if it had one.
type oldValue struct {
	V   string `msgpack:"v,omitempty"`
	Had bool   `msgpack:"h,omitempty"`
	Set bool   `msgpack:"s,omitempty"` // the change was made
}

var setWith = grid.RegisterTTLProcessor("resp.set", func(_ string, v string, exists bool, ttl time.Duration, a setArgs) (string, time.Duration, grid.Action, oldValue, error) {
	old := oldValue{V: v, Had: exists}
	if (a.NX && exists) || (a.XX && !exists) {
		return v, ttl, grid.Keep, old, nil
	}
	old.Set = true
	if a.KeepTTL {
		return a.Value, ttl, grid.Set, old, nil
	}
	return a.Value, time.Duration(a.TTL), grid.Set, old, nil
})

// getDel removes the entry and returns what it held (GETDEL, DEL, HDEL).
var getDel = grid.RegisterProcessor("resp.getdel", func(_ string, v string, exists bool, _ struct{}) (string, grid.Action, oldValue, error) {
	if !exists {
		return v, grid.Keep, oldValue{}, nil
	}
	return v, grid.Remove, oldValue{V: v, Had: true, Set: true}, nil
})

// putNew stores a hash field and says whether it is new (HSET's count).
var putNew = grid.RegisterProcessor("resp.put", func(_ string, _ string, exists bool, v string) (string, grid.Action, bool, error) {
	return v, grid.Set, !exists, nil
})

// expireArgs is EXPIRE/PEXPIRE/PERSIST: a new time to live (<= 0 with
// Persist false deletes the entry, as Redis does), or Persist, with
// EXPIRE's NX/XX/GT/LT condition.
type expireArgs struct {
	TTL     int64  `msgpack:"t,omitempty"`
	Persist bool   `msgpack:"p,omitempty"`
	Cond    string `msgpack:"c,omitempty"` // "", "NX", "XX", "GT" or "LT"
}

// expire answers 1 if it changed the entry's expiry, 0 if not.
var expire = grid.RegisterTTLProcessor("resp.expire", func(_ string, v string, exists bool, ttl time.Duration, a expireArgs) (string, time.Duration, grid.Action, int64, error) {
	if !exists {
		return v, ttl, grid.Keep, 0, nil
	}
	if a.Persist {
		if ttl == 0 {
			return v, ttl, grid.Keep, 0, nil
		}
		return v, 0, grid.Set, 1, nil
	}
	// A key without an expiry has an infinite time to live in GT/LT.
	ok := true
	switch a.Cond {
	case "NX":
		ok = ttl == 0
	case "XX":
		ok = ttl != 0
	case "GT":
		ok = ttl != 0 && a.TTL > int64(ttl)
	case "LT":
		ok = ttl == 0 || a.TTL < int64(ttl)
	}
	if !ok {
		return v, ttl, grid.Keep, 0, nil
	}
	if a.TTL <= 0 {
		return v, ttl, grid.Remove, 1, nil
	}
	return v, time.Duration(a.TTL), grid.Set, 1, nil
})

// ttlLeft reads an entry's time to live in ns: -2 without an entry, -1
// without an expiry. It changes nothing.
var ttlLeft = grid.RegisterTTLProcessor("resp.ttl", func(_ string, v string, exists bool, ttl time.Duration, _ struct{}) (string, time.Duration, grid.Action, int64, error) {
	switch {
	case !exists:
		return v, ttl, grid.Keep, -2, nil
	case ttl == 0:
		return v, ttl, grid.Keep, -1, nil
	}
	return v, ttl, grid.Keep, int64(ttl), nil
})
