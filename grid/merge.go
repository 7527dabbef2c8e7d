package grid

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// mergeChunk is how many entries one merge message carries.
const mergeChunk = 1024

// mergeAway hands the entries and tombstones of partitions this member
// owned, and lost without migrating them, to their new owners, which keep
// each one whose version is newer than all they know of its key (see
// tombstone.go): latest update wins, a delete included. This happens when a
// network partition heals, or a paused member comes back: the side whose
// table is kept keeps ownership, and the other side's writes and deletes are
// merged rather than dropped, while what it held from before changes
// nothing. The caller clears the partitions afterwards; the merge works from
// a copy.
func (s *service) mergeAway(parts []int) {
	var msgs []mergeMsg
	for _, p := range parts {
		pt := s.parts[p]
		pt.mu.Lock()
		msgs = pt.mergeMsgsLocked(p, msgs)
		pt.mu.Unlock()
	}
	s.sendMerges(msgs, 0)
}

// mergeMsgsLocked appends the partition's entries and tombstones, as merge
// messages, to msgs. The caller holds p.mu.
func (pt *part) mergeMsgsLocked(p int, msgs []mergeMsg) []mergeMsg {
	pt.stores.Range(func(name string, st *store) bool {
		msg := mergeMsg{Map: name, Part: p, Cfg: st.cfg}
		add := func(r wireRecord) {
			msg.Entries = append(msg.Entries, r)
			if len(msg.Entries) == mergeChunk {
				msgs = append(msgs, msg)
				msg = mergeMsg{Map: name, Part: p, Cfg: st.cfg}
			}
		}
		st.entries.Range(func(k string, r record) bool {
			add(wireRecord{Key: []byte(k), Val: []byte(r.val), Upd: r.upd, Exp: st.expiry(k)})
			return true
		})
		for _, r := range st.tombs.export() {
			add(r)
		}
		if len(msg.Entries) > 0 {
			msgs = append(msgs, msg)
		}
		return true
	})
	return msgs
}

// sendMerges delivers msgs in the background, once the member holds a
// table newer than after (0: at once).
func (s *service) sendMerges(msgs []mergeMsg, after uint64) {
	if len(msgs) == 0 {
		return
	}
	log := s.m.Logger()
	// A healed split imports partition by partition: one line each is noise.
	level := slog.LevelInfo
	if after > 0 {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, "grid: merging entries written apart from the cluster (a healed split) into their owners", "messages", len(msgs))
	s.m.Go(func(ctx context.Context) {
		if after > 0 {
			if _, err := s.m.WaitPartitions(ctx, func(t *partition.Table) bool { return t != nil && t.Version() > after }); err != nil {
				log.Warn("grid: merge after split abandoned; entries dropped", "messages", len(msgs), "err", err)
				return
			}
		}
		failed := 0
		for _, msg := range msgs {
			if err := s.sendMerge(ctx, &msg); err != nil {
				failed += len(msg.Entries)
				log.Warn("grid: merge after split failed; entries dropped", "partition", msg.Part, "map", msg.Map, "entries", len(msg.Entries), "err", err)
			}
		}
		log.Log(ctx, level, "grid: merge after split done", "messages", len(msgs), "entries_dropped", failed)
	})
}

// sendMerge delivers one merge message to the partition's current owner.
//
// The message is the only copy of what it carries: the member that sends
// it has dropped its own. So it is tried again, through table changes,
// lost connections and an owner that refuses writes for want of a quorum
// (a split that heals makes members flap in and out of each other's view
// for a moment), for as long as the member runs. Only an error no retry
// can cure drops it. Merges decide by version, so a message applied twice
// changes nothing the second time.
func (s *service) sendMerge(ctx context.Context, msg *mergeMsg) error {
	b, err := wire.Marshal(msg)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		t, err := s.table(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = s.m.Call(cctx, t.Owner(msg.Part), routeMerge, b)
		cancel()
		if err == nil || !mergeRetryable(ctx, err) {
			return err
		}
		if s.mergeRefused != nil {
			s.mergeRefused(err)
		}
		if attempt == mergePatience {
			s.m.Logger().Warn("grid: a merge after split still finds no owner to take it; trying until one does",
				"partition", msg.Part, "map", msg.Map, "entries", len(msg.Entries), "err", err)
		}
		if err := s.backoff(ctx, attempt, t.Version()); err != nil {
			return err
		}
	}
}

// mergePatience is the attempt at which a merge that keeps failing is
// logged: about five seconds of backoff.
const mergePatience = 60

// mergeRetryable reports whether a merge that failed with err may succeed
// later: what retries any operation, a quorum lost on either side, or a
// call that timed out while the member still runs.
func mergeRetryable(ctx context.Context, err error) bool {
	return retryable(err) || errors.Is(err, member.ErrNoQuorum) ||
		errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
}

// handleMerge applies merged entries and tombstones on the owner, each as a
// replicated write that keeps the newer of the two versions.
func (s *service) handleMerge(ctx context.Context, req *member.Request) ([]byte, error) {
	var msg mergeMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	for _, e := range msg.Entries {
		op := opRequest{Map: msg.Map, Op: opMerge, Part: msg.Part, Key: e.Key, Value: e.Val, Upd: e.Upd, Exp: e.Exp, Cfg: msg.Cfg}
		if e.Del {
			op.Op, op.Value, op.Exp = opMergeDelete, nil, 0
		}
		if _, err := s.write(ctx, &op); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
