package grid

import (
	"fmt"
	"math/rand/v2"
)

// applyLocked applies one write to the partition, which the caller has
// locked, recording in ch what to replicate and publish. Operations that
// change nothing record nothing.
func (s *service) applyLocked(p *part, st *store, op *opRequest, ch *changes) (opResponse, error) {
	t := now()
	if op.Req.valid() {
		if o, ok := p.dedup.get(op.Req); ok {
			// A retry of a request already applied: answer as the first time,
			// and replicate the key's current state again, since the first
			// attempt's backups may be what failed.
			s.rereplicateLocked(p, st, op.Key, ch)
			return opResponse{Applied: o.Applied, Found: o.Found, Value: o.Value, Seq: p.seq.Load()}, nil
		}
	}
	key := string(op.Key)
	raw, rawExists := st.entries.Load(key)
	cur, exists := raw, rawExists && !st.expired(key, t)
	// known is the newest version this copy knows of the key: a write
	// here is numbered above it, and a merged one must be newer.
	known := raw.upd
	if !rawExists {
		known = st.tombs.known(key)
	}

	var resp opResponse
	var procTTL *int64 // the time to live a TTL processor set (<= 0: none)
	set, del := false, false
	evType := Added
	// newVal may view op.Value, which lives only as long as this call (on
	// the remote path it is the request's buffer): store.put copies it into
	// the entry, and everything else here copies what it keeps.
	var newVal string
	switch op.Op {
	case opPut:
		if op.Retry && exists && cur.val == string(op.Value) {
			// The value is in place: most likely the first attempt's, which
			// applied before it failed. Applying it again would only
			// journal and publish the same put twice, and a job reading
			// the journal would count it twice. Its backups get it again,
			// since they may be what failed.
			s.rereplicateLocked(p, st, op.Key, ch)
			return opResponse{Found: true, Applied: true, Seq: p.seq.Load()}, nil
		}
		set, newVal = true, unsafeString(op.Value)
		resp.Found, resp.Applied = exists, true
	case opPutIfAbsent:
		resp.Found = exists
		if exists {
			resp.Value = []byte(cur.val)
		} else {
			set, newVal, resp.Applied = true, unsafeString(op.Value), true
		}
	case opReplace:
		resp.Found = exists
		if exists {
			set, newVal, resp.Applied = true, unsafeString(op.Value), true
			resp.Value = []byte(cur.val)
		}
	case opCAS:
		resp.Found = exists
		if exists && cur.val == string(op.Old) {
			set, newVal, resp.Applied = true, unsafeString(op.Value), true
		} else if exists {
			resp.Value = []byte(cur.val)
		}
	case opDelete:
		resp.Found = exists
		if exists {
			del, resp.Applied, evType = true, true, Removed
			resp.Value = []byte(cur.val)
		} else if !rawExists {
			// The key may live in a copy this one has not met yet: the only
			// copy of a partition cut off in a minority, merged in when the
			// split heals. The delete must win over it, so it leaves a
			// tombstone even here.
			s.tombstoneLocked(p, st, key, nextVersion(t, known), ch)
		}
	case opDeleteIf:
		resp.Found = exists
		if exists && cur.val == string(op.Old) {
			del, resp.Applied, evType = true, true, Removed
		}
	case opExecute:
		proc, ok := lookupProcessor(op.Proc)
		if !ok {
			return opResponse{}, fmt.Errorf("%w %q on member %s", ErrUnknownProcessor, op.Proc, s.m.ID())
		}
		var old []byte
		if exists {
			old = []byte(cur.val)
		}
		var out procOutcome
		var err error
		if tp, ok := proc.(ttlRunner); ok {
			var left int64
			if exp := st.expiry(key); exists && exp != 0 {
				left = max(exp-t, 1)
			}
			out, err = tp.runTTL(op.Key, old, exists, left, op.Value)
		} else {
			out, err = proc.run(op.Key, old, exists, op.Value)
		}
		if err != nil {
			return opResponse{}, fmt.Errorf("entry processor %q: %w", op.Proc, err)
		}
		resp.Found, resp.Value = exists, out.result
		if out.setsTTL {
			procTTL = &out.ttl
		}
		switch out.action {
		case actionSet:
			set, newVal, resp.Applied = true, string(out.value), true
		case actionDelete:
			if exists {
				del, resp.Applied, evType = true, true, Removed
			} else if !rawExists {
				s.tombstoneLocked(p, st, key, nextVersion(t, known), ch)
			}
		}
	case opExpire:
		if rawExists && st.expired(key, t) {
			del, resp.Applied, evType = true, true, Expired
			cur, exists = raw, true
		}
	case opEvict:
		if rawExists {
			del, resp.Applied, evType = true, true, Evicted
			cur, exists = raw, true
		}
	case opMerge:
		if op.Upd > known {
			set, newVal, resp.Applied = true, unsafeString(op.Value), true
		}
	case opMergeDelete:
		if op.Upd <= known {
			break
		}
		resp.Applied = true
		if !rawExists {
			s.tombstoneLocked(p, st, key, op.Upd, ch)
			return resp, nil
		}
		del, evType, exists = true, Removed, true
	default:
		return opResponse{}, fmt.Errorf("unknown operation %d", op.Op)
	}
	if !set && !del {
		return resp, nil
	}
	if set && exists {
		evType = Updated
	}
	var rec *record
	var exp, tomb int64
	if set {
		ttl := op.TTL
		if ttl == 0 {
			ttl = st.cfg.TTL
		}
		r := record{val: newVal, upd: nextVersion(t, known)}
		if ttl > 0 {
			exp = t + ttl
		}
		if procTTL != nil {
			exp = 0
			if *procTTL > 0 {
				exp = t + *procTTL
			}
		}
		if op.Op == opMerge {
			r.upd, exp = op.Upd, op.Exp
		}
		rec = &r
	}
	switch {
	case !del || op.Op == opExpire || op.Op == opEvict:
		// Expiry and eviction are not deletes: they leave no tombstone.
	case op.Op == opMergeDelete:
		tomb = op.Upd
	default:
		tomb = nextVersion(t, known)
	}
	var old *string
	if exists {
		old = &cur.val
	}
	s.mutateLocked(p, st, key, rec, exp, tomb, evType, old, ch)
	// The writer's own near cache drops what this write replaced as soon
	// as the write returns (see Map.write), not when the invalidation
	// arrives: a client reads its own writes through its member.
	resp.Seq = p.seq.Load()
	if op.Req.valid() {
		o := outcome{Key: op.Key, Map: st.name, Applied: resp.Applied, Found: resp.Found, Value: resp.Value, At: t}
		p.dedup.put(op.Req, o)
		last := &ch.items[len(ch.items)-1]
		last.Req, last.Outcome = op.Req, &o
	}
	if set && !exists && st.cfg.MaxEntries > 0 {
		s.evictLocked(p, st, key, ch)
	}
	return resp, nil
}

// mutateLocked stores rec under key (nil: removes key, leaving a tombstone
// of version tomb unless it is 0), numbering the write in the partition's
// sequence and adding it to the journal, the backup batch and the
// subscribers' notes.
func (s *service) mutateLocked(p *part, st *store, key string, rec *record, exp, tomb int64, evType EventType, old *string, ch *changes) {
	// The sequence is published only once the entry has changed, and
	// announced in writing before: see part.read, whose sequences a near
	// cache relies on to drop the value this write replaces.
	seq := p.seq.Load() + 1
	p.writing.Store(seq)
	item := backupItem{Map: st.name, Part: p.id, Cfg: st.cfg, Seq: seq, Key: []byte(key)}
	if rec != nil {
		rec.seq = seq
		st.put(key, *rec, exp, rec.upd)
		item.Rec = &wireRecord{Val: []byte(rec.val), Upd: rec.upd, Exp: exp}
	} else {
		st.remove(key, tomb)
		item.Tomb = tomb
	}
	p.seq.Store(seq)
	var ev *rawEvent
	wantEvents := s.subs.wantsEvents(st.name)
	if st.journal != nil || wantEvents {
		ev = &rawEvent{Type: evType, Key: item.Key, Time: now()}
		if rec != nil {
			ev.Value = item.Rec.Val
		}
		if old != nil {
			ev.Old = []byte(*old)
		}
		if st.journal != nil {
			ev.Seq = st.journal.append(*ev)
			item.Event = ev
		}
	}
	ch.items = append(ch.items, item)
	note := eventItem{Part: p.id, Seq: seq, Key: item.Key}
	if wantEvents {
		note.Event = ev
	}
	ch.notes = append(ch.notes, note)
}

// rereplicateLocked queues the key's current state to the backups again.
func (s *service) rereplicateLocked(p *part, st *store, key []byte, ch *changes) {
	item := backupItem{Map: st.name, Part: p.id, Cfg: st.cfg, Seq: p.seq.Load(), Key: key}
	if r, ok := st.entries.Load(string(key)); ok {
		item.Rec = &wireRecord{Val: []byte(r.val), Upd: r.upd, Exp: st.expiry(string(key))}
	} else if v, ok := st.tombs.lookup(string(key)); ok {
		item.Tomb = v
	}
	ch.items = append(ch.items, item)
}

// tombstoneLocked records a merged delete of a key this copy does not hold,
// and replicates it: nothing changes that a reader or listener could see.
func (s *service) tombstoneLocked(p *part, st *store, key string, ver int64, ch *changes) {
	st.tombs.add(key, ver)
	ch.items = append(ch.items, backupItem{Map: st.name, Part: p.id, Cfg: st.cfg, Seq: p.seq.Load(), Key: []byte(key), Tomb: ver})
}

// evictLocked keeps the partition's share of the map's per-member entry
// limit by removing the least recently used of a sample of entries.
func (s *service) evictLocked(p *part, st *store, justAdded string, ch *changes) {
	owned := 1
	if t := s.m.Partitions(); t != nil {
		owned = max(1, len(t.Owned(s.m.ID())))
	}
	limit := max(1, st.cfg.MaxEntries/owned)
	for st.entries.Size() > limit {
		victim, ok := sampleLRU(st, justAdded)
		if !ok {
			return
		}
		r, _ := st.entries.Load(victim)
		s.mutateLocked(p, st, victim, nil, 0, 0, Evicted, &r.val, ch)
	}
}

// sampleLRU picks, among up to 16 entries from a random point of the map's
// iteration order, the one accessed longest ago.
func sampleLRU(st *store, exclude string) (string, bool) {
	skip := rand.IntN(min(st.entries.Size(), 256) + 1)
	var victim string
	var oldest int64
	seen := 0
	acc := func(k string) int64 { t, _ := st.times.get(k); return t.acc }
	st.entries.Range(func(k string, _ record) bool {
		if skip > 0 {
			skip--
			return true
		}
		if k != exclude && (seen == 0 || acc(k) < oldest) {
			victim, oldest = k, acc(k)
		}
		seen++
		return seen < 16
	})
	if victim == "" {
		// The skip ran past the end, or past every entry but the excluded
		// one: sample from the start.
		seen = 0
		st.entries.Range(func(k string, _ record) bool {
			if k != exclude && (victim == "" || acc(k) < oldest) {
				victim, oldest = k, acc(k)
			}
			seen++
			return seen < 16
		})
	}
	return victim, victim != ""
}
