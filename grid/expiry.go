package grid

import (
	"context"
	"time"
)

// sweepInterval is how often owners look for expired entries. Reads never
// return an expired entry whatever the sweeper's progress; the sweeper
// removes them (with backups, journal and "expired" events) and frees memory.
const sweepInterval = time.Second

// sweepBatch bounds the expired entries removed per partition per round.
const sweepBatch = 1000

func (s *service) sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.purgeTombstones()
		tbl := s.servingTable()
		if tbl == nil {
			continue
		}
		for _, p := range tbl.Owned(s.m.ID()) {
			s.sweepPartition(ctx, p)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (s *service) sweepPartition(ctx context.Context, p int) {
	n := now()
	s.parts[p].stores.Range(func(name string, st *store) bool {
		if !st.mayExpire() {
			return true
		}
		var expired [][]byte
		st.entries.Range(func(k string, _ record) bool {
			if st.expired(k, n) {
				expired = append(expired, []byte(k))
			}
			return len(expired) < sweepBatch
		})
		for _, k := range expired {
			op := opRequest{Map: name, Op: opExpire, Part: p, Key: k}
			if _, err := s.write(ctx, &op); err != nil {
				return false // ownership moved or shutting down: next round
			}
		}
		return true
	})
}
