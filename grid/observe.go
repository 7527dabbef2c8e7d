package grid

import (
	"context"
	"fmt"
	"time"

	"github.com/weir-dev/weir/internal/wire"
)

// Event is a change to an entry, from a journal or to a listener.
type Event[K comparable, V any] struct {
	Partition int
	Seq       uint64 // journal sequence within the partition (0 for listener events of maps without a journal)
	Type      EventType
	Key       K
	Value     V    // the new value, for Added and Updated
	Old       V    // the previous value, for Updated, Removed, Expired, Evicted
	HasValue  bool // Value is set
	HasOld    bool // Old is set
	Time      time.Time
}

func (mp *Map[K, V]) decodeEvent(p int, e rawEvent) (Event[K, V], error) {
	ev := Event[K, V]{Partition: p, Seq: e.Seq, Type: e.Type, Time: time.Unix(0, e.Time)}
	var err error
	if ev.Key, err = mp.kc.Decode(e.Key); err != nil {
		return ev, fmt.Errorf("%w: key: %v", ErrWrongType, err)
	}
	if len(e.Value) > 0 {
		if ev.Value, err = mp.decodeValue(e.Value); err != nil {
			return ev, err
		}
		ev.HasValue = true
	}
	if len(e.Old) > 0 {
		if ev.Old, err = mp.decodeValue(e.Old); err != nil {
			return ev, err
		}
		ev.HasOld = true
	}
	return ev, nil
}

// JournalBatch is what one journal read returns.
type JournalBatch[K comparable, V any] struct {
	Events []Event[K, V]
	// Next is the sequence to read from next.
	Next uint64
	// Oldest is the oldest sequence the partition's journal still holds.
	Oldest uint64
}

// readJournal reads up to max events of partition p's journal from sequence
// from, on the partition's owner. Reading at the end returns no events and
// Next == from; reading before what the ring still holds fails with
// ErrStaleSequence (Oldest says where to resume). The map must have been
// created WithJournal.
func (mp *Map[K, V]) readJournal(ctx context.Context, p int, from uint64, max int) (JournalBatch[K, V], error) {
	var out JournalBatch[K, V]
	if p < 0 || p >= mp.s.m.PartitionCount() {
		return out, fmt.Errorf("read journal %q: partition %d out of range", mp.name, p)
	}
	ctx, cancel := mp.ctx(ctx)
	defer cancel()
	var resp journalResponse
	var lastErr error
	for attempt := 0; ; attempt++ {
		t, err := mp.s.table(ctx)
		if err != nil {
			return out, opError("read journal", mp.name, err)
		}
		owner := t.Owner(p)
		if owner == mp.s.m.ID() && !mp.s.parts[p].isFrozen.Load() {
			resp, err = mp.s.readJournal(mp.name, p, from, max)
		} else if owner != "" {
			var b []byte
			b, err = wire.Marshal(&journalRequest{Map: mp.name, Part: p, From: from, Max: max, Table: t.Version()})
			if err == nil {
				if b, err = mp.s.m.Call(ctx, owner, routeJournal, b); err == nil {
					err = wire.Unmarshal(b, &resp)
				}
			}
		} else {
			err = errNoTable
		}
		if err == nil {
			break
		}
		if !retryable(err) {
			return out, opError("read journal", mp.name, err)
		}
		lastErr = err
		if err := mp.s.backoff(ctx, attempt, t.Version()); err != nil {
			return out, opError("read journal", mp.name, fmt.Errorf("%w (last error: %v)", err, lastErr))
		}
	}
	out.Next, out.Oldest = resp.Next, resp.Oldest
	if resp.Stale {
		return out, opError("read journal", mp.name, fmt.Errorf("%w: partition %d, asked for %d, oldest held is %d", ErrStaleSequence, p, from, resp.Oldest))
	}
	for _, e := range resp.Events {
		ev, err := mp.decodeEvent(p, e)
		if err != nil {
			return out, opError("read journal", mp.name, err)
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// journalWait returns a channel closed once partition p's journal on this
// member holds an event with sequence >= seq, for readers co-located with the
// partition; nil if this member holds no journal for it.
func (mp *Map[K, V]) journalWait(p int, seq uint64) <-chan struct{} {
	if p < 0 || p >= len(mp.s.parts) {
		return nil
	}
	st, ok := mp.s.parts[p].stores.Load(mp.name)
	if !ok || st.journal == nil {
		return nil
	}
	return st.journal.waitAfter(seq)
}

// AddListener calls fn for every change to the map, on any member, until
// remove is called or the member shuts down. Events arrive on one goroutine
// per listener, in order per partition. Delivery is best effort: events are
// lost if the listener falls more than 65,536 behind (a warning is logged
// with the count) or during a member failure. Use the journal where every
// change matters.
func (mp *Map[K, V]) AddListener(fn func(Event[K, V])) (remove func()) {
	s := mp.s
	var l *listener
	l = newListener(mp.name, s.m.Logger(), func(e rawEvent) {
		ev, err := mp.decodeEvent(-1, e)
		if err != nil {
			l.dropped.Add(1)
			return
		}
		fn(ev)
	})
	if !s.m.Go(l.run) {
		return func() {}
	}
	s.local.addListener(mp.name, l)
	s.announce(context.Background(), mp.name, s.m.Members())
	return func() {
		l.stop()
		s.local.removeListener(mp.name, l)
		s.announce(context.Background(), mp.name, s.m.Members())
	}
}

// Execute runs the registered entry processor proc on k's owner with arg,
// atomically with respect to other writes to k, and returns its result. A
// retry after a failure never runs it twice on the stored entry.
func Execute[K comparable, V, A, R any](ctx context.Context, mp *Map[K, V], k K, proc Processor[K, V, A, R], arg A) (R, error) {
	var r R
	ab, err := wire.Marshal(arg)
	if err != nil {
		return r, opError("execute", mp.name, fmt.Errorf("encode argument: %w", err))
	}
	resp, err := mp.write(ctx, "execute "+proc.name, opExecute, k, nil, nil, 0, proc.name, ab)
	if err != nil {
		return r, err
	}
	if len(resp.Value) > 0 {
		if err := wire.Unmarshal(resp.Value, &r); err != nil {
			return r, opError("execute", mp.name, fmt.Errorf("decode result: %w", err))
		}
	}
	return r, nil
}

// ExecuteAll runs proc on the owner of each key ks[i] with args[i], as
// Execute does, asking each owning member once for all its keys: the
// operations on one key run in the order given. It returns each
// operation's result and error (nil if it succeeded): one operation's
// failure does not stop the others. Each operation carries its own request
// ID, so a retry never runs one twice on the stored entry.
func ExecuteAll[K comparable, V, A, R any](ctx context.Context, mp *Map[K, V], ks []K, proc Processor[K, V, A, R], args []A) ([]R, []error) {
	defer mp.countBatch(kindOf(opExecute))()
	rs, errs := make([]R, len(ks)), make([]error, len(ks))
	what := "execute " + proc.name
	failAll := func(err error) ([]R, []error) {
		for i := range errs {
			errs[i] = opError(what, mp.name, err)
		}
		return rs, errs
	}
	if len(ks) != len(args) {
		return failAll(fmt.Errorf("%d keys but %d arguments", len(ks), len(args)))
	}
	if !mp.s.m.HasQuorum() {
		return failAll(ErrNoQuorum)
	}
	ops := make([]opRequest, len(ks))
	for i, k := range ks {
		kb, p, err := mp.encodeKey(k)
		if err != nil {
			return failAll(err)
		}
		ab, err := wire.Marshal(args[i])
		if err != nil {
			return failAll(fmt.Errorf("encode argument: %w", err))
		}
		ops[i] = opRequest{Map: mp.name, Op: opExecute, Part: p, Key: kb, Proc: proc.name, Value: ab, Cfg: mp.o.store, Req: mp.s.nextReqID()}
	}
	resps, err := mp.s.invokeEach(ctx, ops, mp.o.opTimeout, errs)
	if err != nil {
		return failAll(err)
	}
	for i, resp := range resps {
		if errs[i] != nil {
			errs[i] = opError(what, mp.name, errs[i])
			continue
		}
		if mp.near != nil && resp.Seq > 0 {
			mp.near.invalidate(ops[i].Part, resp.Seq, ops[i].Key)
		}
		if len(resp.Value) > 0 {
			if err := wire.Unmarshal(resp.Value, &rs[i]); err != nil {
				errs[i] = opError(what, mp.name, fmt.Errorf("decode result: %w", err))
			}
		}
	}
	return rs, errs
}
