package grid

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// backupTimeout bounds the wait for a backup's acknowledgement; after it the
// write fails as retryable and the client's retry re-replicates.
const backupTimeout = 5 * time.Second

// tableWait bounds how long an owner waits for a table the caller already
// has before answering that it is not the owner.
const tableWait = time.Second

// ownerTable returns the current table if this member owns partition p in
// it. A caller with a newer table than ours makes us wait for it first.
func (s *service) ownerTable(ctx context.Context, p int, callerVersion uint64, wait bool) (*partition.Table, error) {
	if s.m.CheckStalled() {
		return nil, fmt.Errorf("%w: partition %d: this member stood still and has not received the coordinator's table since", errWrongOwner, p)
	}
	t := s.m.Partitions()
	if wait && callerVersion > 0 && (t == nil || t.Version() < callerVersion) {
		wctx, cancel := context.WithTimeout(ctx, tableWait)
		t, _ = s.m.WaitVersion(wctx, callerVersion)
		cancel()
	}
	if t == nil {
		return nil, errNoTable
	}
	if s.awaitingTable() {
		return nil, fmt.Errorf("%w: partition %d: this member lost the quorum and has not received the coordinator's table since", errWrongOwner, p)
	}
	if p < 0 || p >= t.Count() {
		return nil, fmt.Errorf("partition %d out of range", p)
	}
	if t.Owner(p) != s.m.ID() {
		return nil, fmt.Errorf("%w: partition %d is owned by %q in table v%d", errWrongOwner, p, t.Owner(p), t.Version())
	}
	return t, nil
}

func (s *service) handleGet(_ context.Context, req *member.Request) ([]byte, error) {
	var op opRequest
	if err := parseOp(req.Payload, &op); err != nil {
		return nil, err
	}
	resp, err := s.localGet(&op, req.From)
	if err != nil {
		return nil, err
	}
	return appendResp(nil, &resp), nil
}

// localGet serves a read on the owner, without locks and without waiting:
// it runs on the connection's reader.
func (s *service) localGet(op *opRequest, from string) (opResponse, error) {
	t, err := s.ownerTable(context.Background(), op.Part, op.Table, false)
	if err != nil {
		return opResponse{}, err
	}
	return s.getOwned(t, op.Map, op.Part, op.Key, op.Near, from)
}

// getOwned reads key from partition part, which this member owns in table
// t, the member's table when the caller checked. It takes no lock and
// encodes nothing, so a Map.Get of an owned key calls it directly.
//
// The read is valid only if the partition stayed owned here and was not
// migrating from before the read to after it: a migration freezes the
// partition before the new owner can take writes, and thaws it only after
// this member has installed the table that moved it. So the partition must
// be unfrozen, and the table the one the caller checked, both before and
// after the entry is read; otherwise the read fails as retryable (the
// caller routes it again).
func (s *service) getOwned(t *partition.Table, name string, part int, key []byte, near bool, from string) (opResponse, error) {
	p := s.parts[part]
	if p.isFrozen.Load() {
		return opResponse{}, fmt.Errorf("%w: partition %d is migrating", errWrongOwner, part)
	}
	if near {
		s.subs.add(name, from, subNear)
	}
	st, ok := p.stores.Load(name)
	if !ok {
		resp := opResponse{Seq: p.seq.Load()}
		return resp, s.stillOwned(t, p)
	}
	r, ok, seq := p.read(st, unsafeString(key))
	if err := s.stillOwned(t, p); err != nil {
		return opResponse{}, err
	}
	resp := opResponse{Seq: seq}
	if !ok {
		return resp, nil
	}
	if st.times.active() {
		k := unsafeString(key)
		if tm, ok := st.times.get(k); ok {
			t := now()
			if (tm.exp != 0 && t >= tm.exp) || (st.cfg.MaxIdle > 0 && t-tm.acc >= st.cfg.MaxIdle) {
				return resp, nil
			}
			if st.tracksAccess() && t-tm.acc > int64(time.Second) {
				st.times.touch(string(key), t)
			}
		}
	}
	resp.Found = true
	// Values are immutable strings: the response shares the memory, and
	// whoever reads it (a decoder, or the transport) copies.
	resp.Value = unsafeBytes(r.val)
	return resp, nil
}

// stillOwned checks, after a lock-free read of p, that p did not start
// migrating and that the member's table is still t (tables are replaced
// whole, so the same pointer means no change of owner in between).
func (s *service) stillOwned(t *partition.Table, p *part) error {
	if p.isFrozen.Load() || s.m.Partitions() != t {
		return fmt.Errorf("%w: partition %d changed while being read", errWrongOwner, p.id)
	}
	return nil
}

// ownedTable returns the member's current table if this member owns
// partition p in it, and nil otherwise: operations on p can then run in
// place.
func (s *service) ownedTable(p int) *partition.Table {
	t := s.servingTable()
	if t == nil || t.Owner(p) != s.m.ID() {
		return nil
	}
	return t
}

// servingTable is the member's table, or nil while the member awaits the
// coordinator's (see awaitingTable).
func (s *service) servingTable() *partition.Table {
	if s.m.CheckStalled() || s.awaitingTable() {
		return nil
	}
	return s.m.Partitions()
}

// awaitingTable reports whether this member must serve no partition: it
// is back among a quorum, but its table is stale (member.TableStale), so
// the partitions it gives this member may have moved and changed. A member
// without a quorum keeps serving reads of what it holds, stale as they may
// be, and refuses writes with ErrNoQuorum.
func (s *service) awaitingTable() bool {
	return s.m.TableStale() && s.m.HasQuorum()
}

// read returns key's entry in st, without a lock, and the sequence near
// caches order it by: a value read at a higher sequence is never older than
// one read at a lower sequence. A found entry is exactly the last write to
// key numbered up to that sequence.
func (p *part) read(st *store, key string) (record, bool, uint64) {
	// The sequence is read before the entry, and a write publishes its
	// sequence after changing the entry: every write up to seq is seen.
	seq := p.seq.Load()
	r, ok := st.entries.Load(key)
	if ok {
		// The entry may be a write not yet published.
		return r, true, max(seq, r.seq)
	}
	// The key may have been removed by a write not yet published, which
	// announced its sequence in writing before removing it.
	return r, false, max(seq, p.writing.Load())
}

func (s *service) handleOp(ctx context.Context, req *member.Request) ([]byte, error) {
	var op opRequest
	if err := parseOp(req.Payload, &op); err != nil {
		return nil, err
	}
	resp, err := s.write(ctx, &op)
	if err != nil {
		return nil, err
	}
	return appendResp(nil, &resp), nil
}

func (s *service) handleBatch(ctx context.Context, req *member.Request) ([]byte, error) {
	var b batchRequest
	if err := wire.Unmarshal(req.Payload, &b); err != nil {
		return nil, err
	}
	out := batchResponse{Results: make([]opResult, len(b.Ops))}
	idx := make([]int, len(b.Ops))
	for i := range idx {
		idx[i] = i
	}
	_ = s.runOwned(ctx, b.Ops, idx, req.From, func(i int, resp opResponse, err error) error {
		out.Results[i].Resp = resp
		if err != nil {
			out.Results[i].Code, out.Results[i].Message = member.ErrorCode(err), err.Error()
		}
		return nil
	})
	return wire.Marshal(&out)
}

// checkOpBytes refuses a write whose key, value or expected value is not
// one msgpack value: every member encodes them with msgpack at the edge, so
// other bytes come from a peer that is not one, and stored they would make
// every later read or scan of the map fail.
func checkOpBytes(op *opRequest) error {
	for _, f := range []struct {
		name string
		b    []byte
		must bool
	}{{"key", op.Key, true}, {"value", op.Value, false}, {"expected value", op.Old, false}} {
		if f.b == nil && !f.must {
			continue
		}
		if err := wire.Validate(f.b); err != nil {
			return fmt.Errorf("%w: %s: %v", errBadOp, f.name, err)
		}
	}
	return nil
}

// write applies one write on the owner and waits for its backups.
func (s *service) write(ctx context.Context, op *opRequest) (opResponse, error) {
	var resps [1]opResponse
	var errs [1]error
	s.writeRun(ctx, []*opRequest{op}, resps[:], errs[:])
	return resps[0], errs[0]
}

// writeRun applies writes to one partition of one map, all asked with
// the same table version, in order, under one lock, and waits for their
// backups once. resps[i] and errs[i] are the outcome of ops[i].
func (s *service) writeRun(ctx context.Context, ops []*opRequest, resps []opResponse, errs []error) {
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	if !s.m.HasQuorum() {
		fail(ErrNoQuorum)
		return
	}
	for i, op := range ops {
		errs[i] = checkOpBytes(op)
	}
	op := ops[0]
	if _, err := s.ownerTable(ctx, op.Part, op.Table, true); err != nil {
		fail(err)
		return
	}
	p := s.parts[op.Part]
	if !p.enter(ctx.Done()) {
		fail(ctx.Err())
		return
	}
	defer p.exit()
	// A migration may have moved the partition while we waited to enter.
	t, err := s.ownerTable(ctx, op.Part, 0, false)
	if err != nil {
		fail(err)
		return
	}
	var ch changes
	p.mu.Lock()
	// The last look before the write is numbered: a process stopped
	// before this point numbers it after its pause, newer than what the
	// new owner wrote meanwhile, so it must not write at all.
	if s.m.CheckStalled() {
		p.mu.Unlock()
		fail(fmt.Errorf("%w: partition %d: this member stood still", errWrongOwner, op.Part))
		return
	}
	st, err := p.storeForLocked(op.Map, op.Cfg)
	if err != nil {
		p.mu.Unlock()
		fail(err)
		return
	}
	applied := false
	for i, op := range ops {
		if errs[i] == nil {
			resps[i], errs[i] = s.applyLocked(p, st, op, &ch)
			applied = applied || errs[i] == nil
		}
	}
	rep := s.replicateLocked(ctx, t, op.Part, st, &ch)
	p.mu.Unlock()
	defer rep.done()
	if !applied {
		return
	}
	s.publish(st.name, ch.notes)
	if err := s.acknowledge(rep, op.Part); err != nil {
		fail(err)
	}
}

// acknowledge waits for the backups of a write to partition p and checks,
// before the owner acknowledges it, that the owner did not stand still
// meanwhile and that no backup holds a table in which p moved: a stale
// owner must not acknowledge what the new owner will not keep. A backup's
// refusal marks this member's table stale (member.TableOutdated).
func (s *service) acknowledge(rep *replication, p int) error {
	err := rep.wait()
	if rep.newer > 0 {
		s.m.TableOutdated(rep.newer)
	}
	if err != nil {
		return err
	}
	if s.m.CheckStalled() || s.m.TableStale() {
		return fmt.Errorf("%w: partition %d: this member stood still or lost the quorum before acknowledging", errWrongOwner, p)
	}
	return nil
}

// changes collects what one locked apply did, to replicate and publish.
type changes struct {
	items []backupItem
	notes []eventItem
}

// replication is a set of backup messages in flight.
type replication struct {
	ctx     context.Context
	cancel  context.CancelFunc
	pending []*member.Pending
	errs    []error
	journal *journal // st's journal, whose events seqs done reveals
	seqs    []uint64
	// newer is the highest table version of a backup that refused the
	// changes because that table gives the partition to another member.
	newer uint64
}

// replicateLocked queues the changes to st's backups of partition p in
// table t, which gives p to this member, in apply order (the caller holds
// the partition lock). It does not wait. The caller must call done once
// it has waited, or given up.
func (s *service) replicateLocked(ctx context.Context, t *partition.Table, p int, st *store, ch *changes) *replication {
	backups := t.Backups(p)
	rep := &replication{cancel: func() {}, journal: st.journal}
	if rep.journal != nil {
		for i := range ch.items {
			if ev := ch.items[i].Event; ev != nil {
				rep.seqs = append(rep.seqs, ev.Seq)
			}
		}
	}
	if len(ch.items) == 0 || len(backups) == 0 {
		return rep
	}
	payload, err := wire.Marshal(&backupBatch{Items: ch.items, Table: t.Version()})
	if err != nil {
		rep.errs = append(rep.errs, err)
		return rep
	}
	rep.ctx, rep.cancel = context.WithTimeout(context.WithoutCancel(ctx), backupTimeout)
	for _, b := range backups {
		pd, err := s.m.Begin(rep.ctx, b, routeBackup, payload)
		if err != nil {
			rep.errs = append(rep.errs, fmt.Errorf("backup on %s: %w", b, err))
			continue
		}
		rep.pending = append(rep.pending, pd)
	}
	return rep
}

// done releases the replication and lets journal readers see its events:
// the backups hold them, or never will.
func (rep *replication) done() {
	rep.cancel()
	if len(rep.seqs) > 0 {
		rep.journal.reveal(rep.seqs)
	}
}

// wait waits for every backup's acknowledgement. A backup that refused
// the changes (see handleBackup) sets rep.newer.
func (rep *replication) wait() error {
	errs := rep.errs
	for _, pd := range rep.pending {
		b, err := pd.Wait(rep.ctx)
		if err == nil && len(b) > 0 {
			var r backupReply
			if err = wire.Unmarshal(b, &r); err == nil && r.Newer > 0 {
				rep.newer = max(rep.newer, r.Newer)
				err = fmt.Errorf("%w: a backup holds table v%d, in which this member does not own the partition", errWrongOwner, r.Newer)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %v", errBackupFailed, err)
	}
	return nil
}

// unsafeString views b as a string for a lookup that does not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unsafeBytes views an immutable string as bytes that nobody writes.
func unsafeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
