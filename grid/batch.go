package grid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// GetAll returns the values of the keys that have one, asking each owning
// member once for all its keys.
func (mp *Map[K, V]) GetAll(ctx context.Context, ks []K) (map[K]V, error) {
	defer mp.countBatch(kindGetAll)()
	out := make(map[K]V, len(ks))
	var ops []opRequest
	var opKeys []K
	for _, k := range ks {
		if mp.near != nil {
			if v, ok := mp.near.get(k); ok {
				out[k] = v
				continue
			}
		}
		kb, p, err := mp.encodeKey(k)
		if err != nil {
			return nil, opError("get-all", mp.name, err)
		}
		ops = append(ops, opRequest{Map: mp.name, Op: opGet, Part: p, Key: kb, Near: mp.near != nil})
		opKeys = append(opKeys, k)
	}
	resps, err := mp.s.invokeBatch(ctx, ops, mp.o.opTimeout)
	if err != nil {
		return nil, opError("get-all", mp.name, err)
	}
	for i, r := range resps {
		if !r.Found {
			if mp.near != nil {
				mp.near.absent(opKeys[i], ops[i].Part, r.Seq)
			}
			continue
		}
		v, err := mp.decodeValue(r.Value)
		if err != nil {
			return nil, opError("get-all", mp.name, err)
		}
		out[opKeys[i]] = v
		if mp.near != nil {
			mp.near.put(opKeys[i], ops[i].Part, r.Seq, v)
		}
	}
	return out, nil
}

// PutAll stores every entry, sending each owning member one request for all
// its entries. It returns once every entry is stored with its backups; on
// error some entries may have been stored.
func (mp *Map[K, V]) PutAll(ctx context.Context, entries map[K]V) error {
	defer mp.countBatch(kindPutAll)()
	ops := make([]opRequest, 0, len(entries))
	for k, v := range entries {
		kb, p, err := mp.encodeKey(k)
		if err != nil {
			return opError("put-all", mp.name, err)
		}
		vb, err := mp.encodeValue(v)
		if err != nil {
			return opError("put-all", mp.name, err)
		}
		ops = append(ops, opRequest{Map: mp.name, Op: opPut, Part: p, Key: kb, Value: vb, Cfg: mp.o.store})
	}
	resps, err := mp.s.invokeBatch(ctx, ops, mp.o.opTimeout)
	if err == nil && mp.near != nil {
		for i, r := range resps {
			if r.Seq > 0 {
				mp.near.invalidate(ops[i].Part, r.Seq, ops[i].Key)
			}
		}
	}
	return opError("put-all", mp.name, err)
}

// DeleteAll removes every key in ks (an absent key is not an error),
// sending each owning member one request for all its keys. It returns once
// every removal is applied with its backups; on error some keys may have
// been removed. It counts as one delete in the map's statistics.
func (mp *Map[K, V]) DeleteAll(ctx context.Context, ks []K) error {
	defer mp.countBatch(kindOf(opDelete))()
	ops := make([]opRequest, 0, len(ks))
	for _, k := range ks {
		kb, p, err := mp.encodeKey(k)
		if err != nil {
			return opError("delete-all", mp.name, err)
		}
		ops = append(ops, opRequest{Map: mp.name, Op: opDelete, Part: p, Key: kb, Cfg: mp.o.store})
	}
	resps, err := mp.s.invokeBatch(ctx, ops, mp.o.opTimeout)
	if err == nil && mp.near != nil {
		for i, r := range resps {
			if r.Seq > 0 {
				mp.near.invalidate(ops[i].Part, r.Seq, ops[i].Key)
			}
		}
	}
	return opError("delete-all", mp.name, err)
}

// invokeBatch runs single-key operations grouped by owner, one request per
// owner, retrying the operations that failed retryably on a fresher table.
func (s *service) invokeBatch(ctx context.Context, ops []opRequest, timeout time.Duration) ([]opResponse, error) {
	return s.invokeEach(ctx, ops, timeout, nil)
}

// invokeEach is invokeBatch. With errs (one per operation), an operation
// that fails for good fails alone, its error in errs, and the others go
// on; without, the first such failure fails the batch. Operations this
// member owns run here, in place, with nothing encoded. Operations on one
// key run in the order of ops (they go to one owner, in one request).
func (s *service) invokeEach(ctx context.Context, ops []opRequest, timeout time.Duration, errs []error) ([]opResponse, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resps := make([]opResponse, len(ops))
	pending := make([]int, len(ops))
	for i := range pending {
		pending[i] = i
	}
	self := s.m.ID()
	var lastErr error
	for attempt := 0; len(pending) > 0; attempt++ {
		t, err := s.table(ctx)
		if err != nil {
			return nil, errors.Join(err, lastErr)
		}
		byOwner := map[string][]int{}
		var retry []int
		for _, i := range pending {
			owner := t.Owner(ops[i].Part)
			if owner == "" {
				retry = append(retry, i)
				continue
			}
			ops[i].Table = t.Version()
			byOwner[owner] = append(byOwner[owner], i)
		}
		var mu sync.Mutex
		var fatal error
		var wg sync.WaitGroup
		send := func(owner string, idx []int) {
			var again []int
			var err error
			if owner == self {
				again, err = s.runBatch(ctx, ops, idx, resps, errs)
			} else {
				again, err = s.sendBatch(ctx, owner, ops, idx, resps, errs)
			}
			mu.Lock()
			defer mu.Unlock()
			retry = append(retry, again...)
			if err != nil {
				if retryable(err) {
					lastErr = err
					retry = append(retry, idx...)
				} else if fatal == nil {
					fatal = err
				}
			}
		}
		// The operations this member owns run on this goroutine, as do
		// those of a batch with one owner only.
		for owner, idx := range byOwner {
			if owner == self || len(byOwner) == 1 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				send(owner, idx)
			}()
		}
		for owner, idx := range byOwner {
			if owner == self || len(byOwner) == 1 {
				send(owner, idx)
			}
		}
		wg.Wait()
		if fatal != nil {
			return nil, fatal
		}
		pending = retry
		if len(pending) == 0 {
			break
		}
		for _, i := range pending {
			ops[i].Retry = true
		}
		if err := s.backoff(ctx, attempt, t.Version()); err != nil {
			return nil, fmt.Errorf("%w (last error: %v)", err, lastErr)
		}
	}
	return resps, nil
}

// runBatch runs the operations idx on this member, their owner, filling
// resps, and returns the indexes to retry. Consecutive writes to one
// partition run together (writeRun): one lock, one wait for the backups.
func (s *service) runBatch(ctx context.Context, ops []opRequest, idx []int, resps []opResponse, errs []error) ([]int, error) {
	var retry []int
	outcome := func(i int, r opResponse, err error) error {
		if err == nil {
			resps[i] = r
			return nil
		}
		if err := failOne(err, i, errs); err != nil {
			return err
		}
		if retryable(err) {
			retry = append(retry, i)
		}
		return nil
	}
	if err := s.runOwned(ctx, ops, idx, s.m.ID(), outcome); err != nil {
		return nil, err
	}
	return retry, nil
}

// runOwned runs the operations idx, which this member owns, in
// order, and hands each outcome to done (whose error stops the rest). A
// read for member from tells it the partition's sequence (near caches).
// Consecutive writes to one partition run together (writeRun): one
// lock, one wait for the backups.
func (s *service) runOwned(ctx context.Context, ops []opRequest, idx []int, from string, done func(i int, r opResponse, err error) error) error {
	for j := 0; j < len(idx); {
		op := &ops[idx[j]]
		if op.Op == opGet {
			r, err := s.localGet(op, from)
			if err := done(idx[j], r, err); err != nil {
				return err
			}
			j++
			continue
		}
		n := 1
		for j+n < len(idx) {
			next := &ops[idx[j+n]]
			if next.Op == opGet || next.Part != op.Part || next.Map != op.Map {
				break
			}
			n++
		}
		run := make([]*opRequest, n)
		for k := range run {
			run[k] = &ops[idx[j+k]]
		}
		rs, es := make([]opResponse, n), make([]error, n)
		s.writeRun(ctx, run, rs, es)
		for k := range run {
			if err := done(idx[j+k], rs[k], es[k]); err != nil {
				return err
			}
		}
		j += n
	}
	return nil
}

// failOne records the error of operation i that is not to be retried in
// errs, if there is one; it returns the error that fails the whole batch.
func failOne(err error, i int, errs []error) error {
	if retryable(err) {
		return nil
	}
	if errs == nil {
		return err
	}
	errs[i] = err
	return nil
}

// sendBatch sends the operations idx to owner, filling resps, and returns
// the indexes to retry.
func (s *service) sendBatch(ctx context.Context, owner string, ops []opRequest, idx []int, resps []opResponse, errs []error) ([]int, error) {
	req := batchRequest{Ops: make([]opRequest, len(idx))}
	for j, i := range idx {
		req.Ops[j] = ops[i]
	}
	payload, err := wire.Marshal(&req)
	if err != nil {
		return nil, err
	}
	b, err := s.m.Call(ctx, owner, routeBatch, payload)
	if err != nil {
		return nil, err
	}
	var resp batchResponse
	if err := wire.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(idx) {
		return nil, fmt.Errorf("member %s answered %d of %d operations", owner, len(resp.Results), len(idx))
	}
	var retry []int
	for j, r := range resp.Results {
		i := idx[j]
		if r.Message == "" && r.Code == "" {
			resps[i] = r.Resp
			continue
		}
		err := &member.RemoteError{Member: owner, Route: routeBatch, Code: r.Code, Message: r.Message}
		if err := failOne(err, i, errs); err != nil {
			return nil, err
		}
		if retryable(err) {
			retry = append(retry, i)
		}
	}
	return retry, nil
}
