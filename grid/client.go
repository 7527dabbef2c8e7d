package grid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// Map is a distributed map with keys of type K and values of type V. The
// same name on any member (lite members included) is the same map. Keys
// and values travel and rest as msgpack; a value stored with another Go type
// reads back as an error wrapping ErrWrongType. Methods are safe for
// concurrent use.
type Map[K comparable, V any] struct {
	s    *service
	name string
	o    mapOptions
	kc   codec.Codec[K]
	vc   codec.Codec[V]
	near *nearCache[K, V]
	// stats counts the operations when the service's statsOn is set.
	stats *opStats
	// shareStrings: V is string, and values read by Get share the memory
	// they were read from (see decodeRead).
	shareStrings bool
}

// GetMap returns a handle on the map called name, through m: a member
// started with the grid service (weir.Start), a service's member.Host or a
// job processor's context. Handles are cheap; a near cache, when enabled,
// belongs to the handle. GetMap panics if m serves no maps.
func GetMap[K comparable, V any](m member.Services, name string, opts ...MapOption) *Map[K, V] {
	s := serviceOf(m)
	mp := &Map[K, V]{s: s, name: name, o: buildOptions(opts), kc: codec.For[K](), vc: codec.For[V]()}
	_, mp.shareStrings = any(*new(V)).(string)
	mp.stats = s.opStatsFor(name)
	if mp.o.near != nil {
		mp.near = newNearCache[K, V](*mp.o.near, s.m.PartitionCount(), mp.kc)
		s.local.addNear(name, mp.near)
		s.announce(context.Background(), name, s.m.Members())
	}
	return mp
}

// Name is the map's name.
func (mp *Map[K, V]) Name() string { return mp.name }

func (mp *Map[K, V]) encodeKey(k K) ([]byte, int, error) {
	return mp.appendKey(nil, k)
}

// appendKey encodes k at the end of dst and returns the encoding and k's
// partition.
func (mp *Map[K, V]) appendKey(dst []byte, k K) ([]byte, int, error) {
	kb, err := mp.kc.Append(dst, k)
	if err != nil {
		return nil, 0, fmt.Errorf("encode key: %w", err)
	}
	if len(kb) > mp.o.maxKey {
		return nil, 0, fmt.Errorf("%w: key of %d bytes, limit %d", ErrTooLarge, len(kb), mp.o.maxKey)
	}
	return kb, keys.Partition(kb, mp.s.m.PartitionCount()), nil
}

func (mp *Map[K, V]) encodeValue(v V) ([]byte, error) {
	vb, err := mp.vc.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	if len(vb) > mp.o.maxValue {
		return nil, fmt.Errorf("%w: value of %d bytes, limit %d", ErrTooLarge, len(vb), mp.o.maxValue)
	}
	return vb, nil
}

func (mp *Map[K, V]) decodeValue(b []byte) (V, error) {
	v, err := mp.vc.Decode(b)
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrWrongType, err)
	}
	return v, nil
}

// decodeRead decodes a value that Get read: a stored value, which is never
// changed in place (a write stores a new copy), or a received message,
// which nothing reuses. A string value then shares that memory rather than
// being copied: strings are immutable, so no caller can tell, and a read
// saves an allocation and a copy of the value. Other types are decoded
// into memory of their own (a []byte is the caller's to change).
func (mp *Map[K, V]) decodeRead(b []byte) (V, error) {
	if !mp.shareStrings {
		return mp.decodeValue(b)
	}
	v, n, err := mp.vc.Next(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%d bytes after the value", len(b)-n)
	}
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrWrongType, err)
	}
	return v, nil
}

// keyBuffers holds buffers for reads' encoded keys.
var keyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledKey bounds the buffers kept: a rare huge key should not pin its
// buffer.
const maxPooledKey = 1 << 10

func getKeyBuffer() *[]byte { return keyBuffers.Get().(*[]byte) }

func putKeyBuffer(b *[]byte) {
	if cap(*b) <= maxPooledKey {
		keyBuffers.Put(b)
	}
}

// ctx applies the default operation timeout to contexts without a deadline.
func (mp *Map[K, V]) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, mp.o.opTimeout)
}

// Get returns the value for k and whether there is one.
func (mp *Map[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	if mp.near != nil {
		if v, ok := mp.near.get(k); ok {
			return v, true, nil
		}
	}
	return mp.get(ctx, k)
}

// get is Get past the near cache. It is a function of its own so that a
// near-cache hit does not pay for its frame (a few hundred bytes of
// locals that the function entry clears) and its deferred call. It counts
// the read when stats are on, in its own frame: a wrapper that counted
// would add a call and a frame to every read, which cost more than the
// counting itself (about 40ns of a 1µs owned read, measured).
func (mp *Map[K, V]) get(ctx context.Context, k K) (V, bool, error) {
	var zero V
	var start opStart
	if mp.s.statsOn.Load() {
		start = mp.stats.begin(0)
	}
	// A read keeps nothing of its encoded key once it returns (a request to
	// another member copies it into its message), so the key is encoded
	// into a pooled buffer: an allocation per read otherwise, and on a read
	// that costs a few hundred nanoseconds, the cold memory a fresh
	// allocation touches shows.
	kbuf := getKeyBuffer()
	defer mp.getDone(kbuf, start)
	kb, p, err := mp.appendKey((*kbuf)[:0], k)
	*kbuf = kb
	if err != nil {
		return zero, false, opError("get", mp.name, err)
	}
	var resp opResponse
	owned := false
	if t := mp.s.ownedTable(p); t != nil && !mp.s.closed.Load() {
		// The common case for co-located readers: no request at all, and
		// nothing encoded but the key (see getOwned for why it is safe).
		resp, err = mp.s.getOwned(t, mp.name, p, kb, mp.near != nil, mp.s.m.ID())
		owned = err == nil || !retryable(err)
	}
	if !owned {
		op := opRequest{Map: mp.name, Op: opGet, Part: p, Key: kb, Near: mp.near != nil}
		resp, err = mp.s.invoke(ctx, routeGet, &op, mp.o.opTimeout)
	}
	if err != nil {
		return zero, false, opError("get", mp.name, err)
	}
	if !resp.Found {
		if mp.near != nil {
			mp.near.absent(k, p, resp.Seq)
		}
		return zero, false, nil
	}
	v, err := mp.decodeRead(resp.Value)
	if err != nil {
		return zero, false, opError("get", mp.name, err)
	}
	if mp.near != nil {
		mp.near.put(k, p, resp.Seq, v)
	}
	return v, true, nil
}

// Put stores v under k. It returns once the owner and the map's synchronous
// backups have the entry.
func (mp *Map[K, V]) Put(ctx context.Context, k K, v V) error {
	_, err := mp.write(ctx, "put", opPut, k, &v, nil, 0, "", nil)
	return err
}

// PutTTL stores v under k for ttl (0: the map's default; negative: forever).
func (mp *Map[K, V]) PutTTL(ctx context.Context, k K, v V, ttl time.Duration) error {
	if ttl < 0 {
		ttl = -1
	}
	_, err := mp.write(ctx, "put", opPut, k, &v, nil, int64(ttl), "", nil)
	return err
}

// PutIfAbsent stores v under k unless k has a value; it reports whether it
// stored, and returns the existing value when it did not. A retry after a
// failure never applies it twice.
func (mp *Map[K, V]) PutIfAbsent(ctx context.Context, k K, v V) (stored bool, existing V, err error) {
	resp, err := mp.write(ctx, "put-if-absent", opPutIfAbsent, k, &v, nil, 0, "", nil)
	if err != nil || resp.Applied {
		return resp.Applied, existing, err
	}
	existing, err = mp.decodeValue(resp.Value)
	return false, existing, opError("put-if-absent", mp.name, err)
}

// Replace stores v under k only if k has a value, and reports whether it did.
func (mp *Map[K, V]) Replace(ctx context.Context, k K, v V) (bool, error) {
	resp, err := mp.write(ctx, "replace", opReplace, k, &v, nil, 0, "", nil)
	return resp.Applied, err
}

// CompareAndSwap stores new under k only if k's current value equals old
// (compared as encoded bytes), and reports whether it did.
func (mp *Map[K, V]) CompareAndSwap(ctx context.Context, k K, old, new V) (bool, error) {
	resp, err := mp.write(ctx, "compare-and-swap", opCAS, k, &new, &old, 0, "", nil)
	return resp.Applied, err
}

// Delete removes k; removing an absent key is not an error.
func (mp *Map[K, V]) Delete(ctx context.Context, k K) error {
	_, err := mp.write(ctx, "delete", opDelete, k, nil, nil, 0, "", nil)
	return err
}

// CompareAndDelete removes k only if its current value equals old, and
// reports whether it did.
func (mp *Map[K, V]) CompareAndDelete(ctx context.Context, k K, old V) (bool, error) {
	resp, err := mp.write(ctx, "compare-and-delete", opDeleteIf, k, nil, &old, 0, "", nil)
	return resp.Applied, err
}

// write sends one write to k's owner. Non-idempotent operations carry a
// request ID so that a retry is answered, not applied again.
func (mp *Map[K, V]) write(ctx context.Context, what string, code opCode, k K, v, old *V, ttl int64, proc string, arg []byte) (opResponse, error) {
	if mp.s.statsOn.Load() && kindOf(code) >= 0 {
		return mp.timedWrite(ctx, what, code, k, v, old, ttl, proc, arg)
	}
	return mp.write0(ctx, what, code, k, v, old, ttl, proc, arg)
}

// write0 is write, uncounted.
func (mp *Map[K, V]) write0(ctx context.Context, what string, code opCode, k K, v, old *V, ttl int64, proc string, arg []byte) (opResponse, error) {
	kb, p, err := mp.encodeKey(k)
	if err != nil {
		return opResponse{}, opError(what, mp.name, err)
	}
	op := opRequest{Map: mp.name, Op: code, Part: p, Key: kb, TTL: ttl, Proc: proc, Cfg: mp.o.store}
	if v != nil {
		if op.Value, err = mp.encodeValue(*v); err != nil {
			return opResponse{}, opError(what, mp.name, err)
		}
	} else if arg != nil {
		op.Value = arg
	}
	if old != nil {
		if op.Old, err = mp.encodeValue(*old); err != nil {
			return opResponse{}, opError(what, mp.name, err)
		}
	}
	switch code {
	case opPutIfAbsent, opCAS, opDeleteIf, opExecute, opReplace:
		op.Req = mp.s.nextReqID()
	}
	if !mp.s.m.HasQuorum() {
		return opResponse{}, opError(what, mp.name, ErrNoQuorum)
	}
	resp, err := mp.s.invoke(ctx, routeOp, &op, mp.o.opTimeout)
	if err == nil && mp.near != nil && resp.Seq > 0 {
		mp.near.invalidate(p, resp.Seq, op.Key)
	}
	return resp, opError(what, mp.name, err)
}

func (s *service) nextReqID() reqID {
	return reqID{Client: s.m.ID(), Seq: s.clientSeq.Add(1)}
}

// invoke sends op to its partition's owner, retrying through table changes,
// migrations and member failures until ctx (or the default timeout) ends.
// When this member owns the partition the operation runs here, without
// encoding anything.
func (s *service) invoke(ctx context.Context, route string, op *opRequest, timeout time.Duration) (opResponse, error) {
	if s.closed.Load() {
		return opResponse{}, ErrClosed
	}
	if t := s.m.Partitions(); t != nil && t.Owner(op.Part) == s.m.ID() {
		op.Table = t.Version()
		resp, err := s.runLocal(ctx, route, op)
		if err == nil || !retryable(err) {
			return resp, err
		}
		op.Retry = true
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		t, err := s.table(ctx)
		if err != nil {
			return opResponse{}, errors.Join(err, lastErr)
		}
		owner := t.Owner(op.Part)
		op.Table = t.Version()
		var resp opResponse
		switch owner {
		case "":
			err = fmt.Errorf("partition %d has no owner yet", op.Part)
		case s.m.ID():
			resp, err = s.runLocal(ctx, route, op)
		default:
			resp, err = s.remote(ctx, owner, route, op)
		}
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, member.ErrClosed) {
			return opResponse{}, ErrClosed
		}
		if !retryable(err) {
			return opResponse{}, err
		}
		lastErr, op.Retry = err, true
		if err := s.backoff(ctx, attempt, t.Version()); err != nil {
			return opResponse{}, fmt.Errorf("%w (last error: %v)", err, lastErr)
		}
	}
}

// runLocal runs an operation on this member, the partition's owner.
func (s *service) runLocal(ctx context.Context, route string, op *opRequest) (opResponse, error) {
	if route == routeGet {
		return s.localGet(op, s.m.ID())
	}
	return s.write(ctx, op)
}

func (s *service) remote(ctx context.Context, owner, route string, op *opRequest) (opResponse, error) {
	b, err := s.m.Call(ctx, owner, route, appendOp(make([]byte, 0, 64+len(op.Map)+len(op.Key)+len(op.Value)), op))
	if err != nil {
		return opResponse{}, err
	}
	var resp opResponse
	err = parseResp(b, &resp)
	return resp, err
}

// table returns the member's partition table, waiting for the first one.
func (s *service) table(ctx context.Context) (*partition.Table, error) {
	if t := s.m.Partitions(); t != nil {
		return t, nil
	}
	t, err := s.m.WaitPartitions(ctx, func(t *partition.Table) bool { return t != nil })
	if err != nil {
		if errors.Is(err, member.ErrClosed) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %v", errNoTable, err)
	}
	return t, nil
}

// backoff waits before a retry: for a newer table if one is coming, at
// most a few milliseconds at first and up to 100ms later.
func (s *service) backoff(ctx context.Context, attempt int, version uint64) error {
	d := min(time.Millisecond<<min(attempt, 7), 100*time.Millisecond)
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if attempt > 0 && attempt%4 == 0 {
		// Ask the coordinator: our table may be the stale one.
		_, _ = s.m.WaitVersion(wctx, version+1)
	} else {
		_, _ = s.m.WaitPartitions(wctx, func(t *partition.Table) bool { return t != nil && t.Version() > version })
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}
