package grid

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// A backup applies changes only from the member that owns their partition
// in its table, when its table is at least as new as the sender's: an
// owner the cluster has moved past (back from a pause, cut off by a
// bridge) must not overwrite what the new owner's replicas hold. The
// refusal names the backup's table version, which the sender learns is
// newer than its own.
func TestBackupRefusesTheBatchOfAMemberThatDoesNotOwnThePartition(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config(t)
	cfg.BackupCount = 2
	c := clustertest.Start(t, 3, cfg)
	c.WaitStable(3)
	ms := c.Members()
	require.Eventually(t, func() bool {
		t := ms[0].Partitions()
		return t != nil && t.CheckPlacement(clustertest.DataMembers(ms), 2) == nil
	}, time.Minute, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp := GetMap[string, string](ms[0], "fenced")
	require.NoError(t, mp.Put(ctx, "k", "acknowledged"))
	kb, p, err := mp.encodeKey("k")
	require.NoError(t, err)
	tbl := ms[0].Partitions()
	byID := map[string]*member.Member{}
	for _, m := range ms {
		byID[m.ID()] = m
	}
	owner := byID[tbl.Owner(p)]
	bs := tbl.Backups(p)
	require.Len(t, bs, 2)
	stale, backup := byID[bs[0]], byID[bs[1]]
	val, err := mp.encodeValue("from a member that is not the owner")
	require.NoError(t, err)

	send := func(from *member.Member, version uint64) backupReply {
		t.Helper()
		b, err := wire.Marshal(&backupBatch{Table: version, Items: []backupItem{{
			Map: "fenced", Part: p, Key: kb, Rec: &wireRecord{Key: kb, Val: val, Upd: time.Now().UnixNano()},
		}}})
		require.NoError(t, err)
		out, err := serviceOf(from).m.Call(ctx, backup.ID(), routeBackup, b)
		require.NoError(t, err)
		var r backupReply
		if len(out) > 0 {
			require.NoError(t, wire.Unmarshal(out, &r))
		}
		return r
	}
	held := func() string {
		st, ok := serviceOf(backup).parts[p].stores.Load("fenced")
		require.True(t, ok)
		r, ok := st.entries.Load(string(kb))
		require.True(t, ok)
		v, err := mp.decodeValue([]byte(r.val))
		require.NoError(t, err)
		return v
	}

	for _, v := range []uint64{tbl.Version(), tbl.Version() - 1} {
		r := send(stale, v)
		require.Equal(t, tbl.Version(), r.Newer, "a batch of table v%d from a member that does not own the partition was not refused", v)
		require.Equal(t, "acknowledged", held(), "the backup applied a batch from a member that does not own the partition")
	}
	// The owner's batches apply, and so do those of a sender whose table
	// is newer than the backup's.
	require.Zero(t, send(owner, tbl.Version()).Newer)
	require.Equal(t, "from a member that is not the owner", held())
	require.Zero(t, send(stale, tbl.Version()+1).Newer)
}
