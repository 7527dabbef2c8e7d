package grid

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// handleBackup applies an owner's changes on a backup. It runs inline, on
// the connection's reader, so changes apply in the order the owner queued
// them.
func (s *service) handleBackup(_ context.Context, req *member.Request) ([]byte, error) {
	var b backupBatch
	if err := wire.Unmarshal(req.Payload, &b); err != nil {
		return nil, err
	}
	for i := range b.Items {
		if p := b.Items[i].Part; p < 0 || p >= len(s.parts) {
			return nil, fmt.Errorf("backup: partition %d out of range", p)
		}
	}
	if v := s.refuseBackup(&b, req.From); v > 0 {
		s.m.Logger().Debug("refused the backup batch of a member that no longer owns its partition", "from", req.From, "its table", b.Table, "ours", v)
		return wire.Marshal(&backupReply{Newer: v})
	}
	for i := range b.Items {
		it := &b.Items[i]
		s.parts[it.Part].applyBackup(it)
	}
	return nil, nil
}

// refuseBackup returns the version of this member's table if it is at
// least as new as the sender's and gives a partition of the batch to
// another member than the sender, and 0 if the batch may apply. An owner
// the cluster has moved past (back from a pause, or cut off) must not
// overwrite what the new owner and its backups hold; the refusal tells it
// that its table is stale.
func (s *service) refuseBackup(b *backupBatch, from string) uint64 {
	t := s.m.Partitions()
	if t == nil || b.Table == 0 || t.Version() < b.Table {
		return 0
	}
	for i := range b.Items {
		if t.Owner(b.Items[i].Part) != from {
			return t.Version()
		}
	}
	return 0
}

func (p *part) applyBackup(it *backupItem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.adoptLocked(it.Map, it.Cfg)
	key := string(it.Key)
	if it.Rec != nil {
		st.put(key, record{val: string(it.Rec.Val), upd: it.Rec.Upd, seq: it.Seq}, it.Rec.Exp, it.Rec.Upd)
	} else {
		st.remove(key, it.Tomb)
	}
	if it.Event != nil && st.journal != nil {
		st.journal.replicate(*it.Event)
	}
	if it.Req.valid() && it.Outcome != nil {
		p.dedup.put(it.Req, *it.Outcome)
	}
	if it.Seq > p.seq.Load() {
		p.seq.Store(it.Seq)
	}
}

// adoptLocked returns the map's store, taking the owner's definition: on a
// replica the owner's word is final.
func (p *part) adoptLocked(name string, cfg storeConfig) *store {
	st, ok := p.stores.Load(name)
	if !ok {
		st = newStore(name, cfg)
		p.stores.Put(st)
		return st
	}
	if !cfg.isZero() && st.cfg != cfg {
		st = st.redefined(cfg)
		p.stores.Put(st)
	}
	return st
}
