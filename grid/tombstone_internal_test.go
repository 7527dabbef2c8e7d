package grid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

func TestTombstonesPurgeByAgeAndKeepAFloor(t *testing.T) {
	var ts tombstones
	require.Zero(t, ts.known("a"))
	ts.add("a", 10)
	ts.add("b", 20)
	ts.add("c", 30)
	ts.clear("b") // written again: its queued tombstone is stale
	require.Equal(t, int64(10), ts.known("a"))
	require.Zero(t, ts.known("b"))

	require.Equal(t, 1, ts.purge(25), "a purged; b's queued tombstone was superseded")
	require.Equal(t, int64(10), ts.floor)
	require.Equal(t, int64(10), ts.known("a"), "a purged tombstone lives on in the floor")
	require.Equal(t, int64(10), ts.known("never-seen"))
	require.Equal(t, int64(30), ts.known("c"))

	ts.add("a", 40) // deleted again after a write
	require.Equal(t, 2, ts.purge(100))
	require.Equal(t, int64(40), ts.floor)
	require.Zero(t, ts.len())
	require.Empty(t, ts.queue)

	var cp tombstones
	cp.restore([]wireRecord{{Key: []byte("y"), Upd: 7, Del: true}, {Key: []byte("x"), Upd: 5, Del: true}}, 3)
	require.Equal(t, int64(3), cp.floor)
	require.Equal(t, 1, cp.purge(6), "a restored copy purges oldest first")
	require.Equal(t, int64(7), cp.known("y"))
}

func TestTombstoneCutoffStaysBelowARecentDeparture(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	minAge := int64(tombstoneMinAge)
	require.Equal(t, now-minAge, tombstoneCutoff(now, 0))
	left := now - int64(time.Minute)
	require.Equal(t, left-minAge, tombstoneCutoff(now, left), "kept from just before the departure on")
	long := now - int64(tombstoneSplitRetention) - 1
	require.Equal(t, now-minAge, tombstoneCutoff(now, long), "a departure past the retention no longer holds tombstones")
}

func TestNextVersionNumbersAboveWhatItReplaces(t *testing.T) {
	require.Equal(t, int64(100), nextVersion(100, 50))
	require.Equal(t, int64(201), nextVersion(100, 200), "a lagging clock numbers above the version replaced")
}

// mergeHarness is one member holding a map whose partition state the test
// reads and merges into directly, as an owner receiving a merge does.
type mergeHarness struct {
	t   *testing.T
	ctx context.Context
	mp  *Map[string, string]
	s   *service
}

func newMergeHarness(t *testing.T) *mergeHarness {
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &mergeHarness{t: t, ctx: ctx, mp: GetMap[string, string](m, "versions"), s: serviceOf(m)}
}

// merge sends one merged entry (del: a tombstone) of version ver for key,
// as a former owner's merge message would, and reports whether it applied.
func (h *mergeHarness) merge(key, val string, ver int64, del bool) bool {
	h.t.Helper()
	kb, p, err := h.mp.encodeKey(key)
	require.NoError(h.t, err)
	op := opRequest{Map: "versions", Op: opMerge, Part: p, Key: kb, Upd: ver}
	if del {
		op.Op = opMergeDelete
	} else {
		op.Value, err = h.mp.encodeValue(val)
		require.NoError(h.t, err)
	}
	resp, err := h.s.write(h.ctx, &op)
	require.NoError(h.t, err)
	return resp.Applied
}

func (h *mergeHarness) version(key string) int64 {
	h.t.Helper()
	kb, p, err := h.mp.encodeKey(key)
	require.NoError(h.t, err)
	pt := h.s.parts[p]
	pt.mu.Lock()
	defer pt.mu.Unlock()
	st, ok := pt.stores.Load("versions")
	require.True(h.t, ok)
	return st.known(string(kb))
}

func (h *mergeHarness) get(key string) (string, bool) {
	h.t.Helper()
	v, ok, err := h.mp.Get(h.ctx, key)
	require.NoError(h.t, err)
	return v, ok
}

// An old copy of an entry, merged after the entry was deleted, stays
// deleted, whether the tombstone is still there or already purged into the
// floor; a write newer than the delete comes through.
func TestMergeOfAnOlderCopyDoesNotUndoADelete(t *testing.T) {
	t.Parallel()
	h := newMergeHarness(t)
	require.NoError(t, h.mp.Put(h.ctx, "k", "v1"))
	old := h.version("k")
	require.NoError(t, h.mp.Delete(h.ctx, "k"))
	deleted := h.version("k")
	require.Greater(t, deleted, old, "the delete is numbered above the write it removed")

	require.False(t, h.merge("k", "v1", old, false), "the old copy undid the delete")
	_, ok := h.get("k")
	require.False(t, ok)

	// Past its retention the tombstone goes; the floor still refuses.
	h.s.purgeBefore(deleted + 1)
	require.Equal(t, deleted, h.version("k"))
	require.False(t, h.merge("k", "v1", old, false), "the old copy undid the delete once its tombstone was purged")
	_, ok = h.get("k")
	require.False(t, ok)

	require.True(t, h.merge("k", "written apart, later", deleted+5, false))
	v, ok := h.get("k")
	require.True(t, ok)
	require.Equal(t, "written apart, later", v)
}

// A delete made apart wins over the older write it removed, and loses to a
// newer one; a merged delete of a key this copy never held is kept, so a
// still older copy arriving later is refused too.
func TestMergedDeleteWinsOverOlderWritesOnly(t *testing.T) {
	t.Parallel()
	h := newMergeHarness(t)
	require.NoError(t, h.mp.Put(h.ctx, "a", "before"))
	va := h.version("a")
	require.True(t, h.merge("a", "", va+10, true))
	_, ok := h.get("a")
	require.False(t, ok, "the delete made apart lost to the older write")

	require.NoError(t, h.mp.Put(h.ctx, "b", "newer"))
	vb := h.version("b")
	require.False(t, h.merge("b", "", vb-1, true))
	v, ok := h.get("b")
	require.True(t, ok, "an older delete removed a newer write")
	require.Equal(t, "newer", v)

	require.True(t, h.merge("c", "", 1000, true))
	require.Equal(t, int64(1000), h.version("c"))
	require.False(t, h.merge("c", "old", 999, false))
	_, ok = h.get("c")
	require.False(t, ok)
	require.False(t, h.merge("c", "", 1000, true), "the same delete merged twice")
}

// A backup keeps the tombstone of a replicated delete, and a migration
// copies tombstones and the floor: a promoted backup or a new owner refuses
// an old copy as the old owner would.
func TestTombstonesTravelToBackupsAndNewReplicas(t *testing.T) {
	backup := newPart(0)
	backup.applyBackup(&backupItem{Map: "m", Key: []byte("gone"), Seq: 1, Tomb: 5})
	backup.applyBackup(&backupItem{Map: "m", Key: []byte("k"), Seq: 2, Rec: &wireRecord{Val: []byte("v"), Upd: 10}})
	backup.applyBackup(&backupItem{Map: "m", Key: []byte("k"), Seq: 3, Tomb: 20})
	st, _ := backup.stores.Load("m")
	require.Equal(t, int64(20), st.known("k"))
	_, held := st.entries.Load("k")
	require.False(t, held)
	st.tombs.purge(6)

	backup.mu.Lock()
	d := backup.exportLocked(&subscriptions{})
	backup.mu.Unlock()
	moved := newPart(0)
	moved.mu.Lock()
	moved.importDataLocked(d)
	moved.mu.Unlock()
	st, _ = moved.stores.Load("m")
	require.Equal(t, int64(20), st.known("k"))
	require.Equal(t, int64(5), st.known("gone"), "the floor moved with the copy")
	require.Equal(t, int64(5), st.tombs.floor)
}

// A delete of a key this copy does not hold leaves a tombstone too: after
// a split, the majority may serve a partition whose only copies were cut
// off in the minority, and when they are merged in at the heal, a delete
// acknowledged meanwhile must win over the older write it was meant to
// remove. A processor's delete does the same.
func TestDeleteOfAnAbsentKeyWinsOverAnOlderCopy(t *testing.T) {
	t.Parallel()
	h := newMergeHarness(t)
	before := now()
	require.NoError(t, h.mp.Delete(h.ctx, "absent"))
	require.GreaterOrEqual(t, h.version("absent"), before, "the delete of an absent key left no tombstone")
	require.False(t, h.merge("absent", "held by the minority", before-1, false), "the older copy undid the delete")
	_, ok := h.get("absent")
	require.False(t, ok)
	require.True(t, h.merge("absent", "written later", h.version("absent")+1, false), "a newer write lost to the delete")
}
