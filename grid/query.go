package grid

import (
	"context"
	"errors"
	"fmt"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

func configMismatch(name string, have, want storeConfig) error {
	return fmt.Errorf("%w: map %q is defined with %+v, this write with %+v", ErrConfigMismatch, name, have, want)
}

// owns reports whether this member owns p and can serve it now.
func (s *service) owns(p int) bool {
	t := s.servingTable()
	return t != nil && p >= 0 && p < t.Count() && t.Owner(p) == s.m.ID() && !s.parts[p].isFrozen.Load()
}

// eachOwnedStore calls fn with the map's store in each of parts that this
// member owns and serves now, and returns the others, which the caller
// routes again.
func (s *service) eachOwnedStore(parts []int, name string, fn func(st *store)) (notOwned []int) {
	for _, p := range parts {
		if !s.owns(p) {
			notOwned = append(notOwned, p)
			continue
		}
		if st, ok := s.parts[p].stores.Load(name); ok {
			fn(st)
		}
	}
	return notOwned
}

func (s *service) handleLen(_ context.Context, req *member.Request) ([]byte, error) {
	var r lenRequest
	if err := wire.Unmarshal(req.Payload, &r); err != nil {
		return nil, err
	}
	var resp lenResponse
	t := now()
	resp.NotOwned = s.eachOwnedStore(r.Parts, r.Map, func(st *store) {
		if !st.mayExpire() {
			resp.Count += st.entries.Size()
			return
		}
		st.entries.Range(func(k string, _ record) bool {
			if !st.expired(k, t) {
				resp.Count++
			}
			return true
		})
	})
	return wire.Marshal(&resp)
}

func (s *service) handleScan(_ context.Context, req *member.Request) ([]byte, error) {
	var r scanRequest
	if err := wire.Unmarshal(req.Payload, &r); err != nil {
		return nil, err
	}
	var resp scanResponse
	t := now()
	resp.NotOwned = s.eachOwnedStore(r.Parts, r.Map, func(st *store) {
		st.entries.Range(func(k string, rec record) bool {
			if !st.expired(k, t) {
				resp.Entries = append(resp.Entries, wireRecord{Key: []byte(k), Val: []byte(rec.val)})
			}
			return true
		})
	})
	return wire.Marshal(&resp)
}

// handleClear removes every entry of the map in the given partitions, as
// ordinary replicated removals with events.
func (s *service) handleClear(ctx context.Context, req *member.Request) ([]byte, error) {
	var r clearRequest
	if err := wire.Unmarshal(req.Payload, &r); err != nil {
		return nil, err
	}
	if !s.m.HasQuorum() {
		return nil, ErrNoQuorum
	}
	var resp lenResponse
	for _, p := range r.Parts {
		if err := s.clearPartition(ctx, p, r.Map); err != nil {
			if retryable(err) {
				resp.NotOwned = append(resp.NotOwned, p)
				continue
			}
			return nil, err
		}
	}
	return wire.Marshal(&resp)
}

func (s *service) clearPartition(ctx context.Context, p int, name string) error {
	pt := s.parts[p]
	if !pt.enter(ctx.Done()) {
		return ctx.Err()
	}
	defer pt.exit()
	t, err := s.ownerTable(ctx, p, 0, false)
	if err != nil {
		return err
	}
	st, ok := pt.stores.Load(name)
	if !ok {
		return nil
	}
	var ch changes
	pt.mu.Lock()
	at := now()
	st.entries.Range(func(k string, rec record) bool {
		old := rec.val
		s.mutateLocked(pt, st, k, nil, 0, nextVersion(at, rec.upd), Removed, &old, &ch)
		return true
	})
	rep := s.replicateLocked(ctx, t, p, st, &ch)
	pt.mu.Unlock()
	defer rep.done()
	s.publish(name, ch.notes)
	return s.acknowledge(rep, p)
}

func (s *service) handleJournal(ctx context.Context, req *member.Request) ([]byte, error) {
	var r journalRequest
	if err := wire.Unmarshal(req.Payload, &r); err != nil {
		return nil, err
	}
	if _, err := s.ownerTable(ctx, r.Part, r.Table, true); err != nil {
		return nil, err
	}
	resp, err := s.readJournal(r.Map, r.Part, r.From, r.Max)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(&resp)
}

func (s *service) readJournal(name string, p int, from uint64, max int) (journalResponse, error) {
	st, ok := s.parts[p].stores.Load(name)
	if !ok {
		// Nothing written yet: an empty journal, whose next event is 0.
		return journalResponse{}, nil
	}
	if st.journal == nil {
		return journalResponse{}, fmt.Errorf("%w: %q", ErrNoJournal, name)
	}
	events, next, err := st.journal.read(from, max)
	oldest, _ := st.journal.bounds()
	resp := journalResponse{Events: events, Next: next, Oldest: oldest}
	if errors.Is(err, ErrStaleSequence) {
		// An answer, not a failure: the reader needs Oldest to resume, and
		// an error would lose it on the way back.
		resp.Stale = true
		return resp, nil
	}
	return resp, err
}
