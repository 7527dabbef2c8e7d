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
		it := &b.Items[i]
		if it.Part < 0 || it.Part >= len(s.parts) {
			return nil, fmt.Errorf("backup: partition %d out of range", it.Part)
		}
		s.parts[it.Part].applyBackup(it)
	}
	return nil, nil
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
