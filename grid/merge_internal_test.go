package grid

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// When a healed split's kept side copies a partition over a member that
// owned it while apart, what that member wrote is merged into the owner
// once the table committing the copy arrives (it used to be replaced and
// lost). The copy is imported by hand here; a member joining brings the
// next table.
func TestImportOverAnOwnedPartitionMergesWhatItReplaces(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp := GetMap[string, string](m, "healed")
	require.NoError(t, mp.Put(ctx, "a", "written apart, later"))

	kb, p, err := mp.encodeKey("a")
	require.NoError(t, err)
	other, err := keys.Encode("b")
	require.NoError(t, err)
	if keys.Partition(other, m.PartitionCount()) != p {
		other = nil // "b" lives elsewhere: the copy holds "a" only
	}
	val := func(s string) []byte {
		b, err := mp.encodeValue(s)
		require.NoError(t, err)
		return b
	}
	copied := partData{Stores: []storeData{{Name: "healed", Entries: []wireRecord{{Key: kb, Val: val("kept side, earlier"), Upd: 1}}}}}
	if other != nil {
		copied.Stores[0].Entries = append(copied.Stores[0].Entries, wireRecord{Key: other, Val: val("kept side only"), Upd: 1})
	}
	data, err := wire.Marshal(&copied)
	require.NoError(t, err)
	require.NoError(t, serviceOf(m).ImportPartition(ctx, p, data))
	got, _, err := mp.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "kept side, earlier", got, "the copy replaced the partition")

	c.Add(func(*member.Config) {})
	c.WaitStable(2)
	require.Eventually(t, func() bool {
		got, _, err := mp.Get(ctx, "a")
		return err == nil && got == "written apart, later"
	}, 30*time.Second, 10*time.Millisecond, "the later write made apart was not merged back")
	if other != nil {
		got, ok, err := mp.Get(ctx, "b")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "kept side only", got)
	}
}

// A copy of a partition sent for a table a member has not received yet
// survives an older table that does not list the member for it: a member
// behind the coordinator (one pulling the table after a split) can learn
// of that older table after the copy arrived. A copy whose table came
// without the member is dropped, not kept forever.
func TestImportedCopyWaitsForItsTable(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	s := serviceOf(m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp := GetMap[string, string](m, "copied")
	kb, p, err := mp.encodeKey("a")
	require.NoError(t, err)
	val, err := mp.encodeValue("copy")
	require.NoError(t, err)
	data, err := wire.Marshal(&partData{Stores: []storeData{{Name: "copied", Entries: []wireRecord{{Key: kb, Val: val, Upd: 1}}}}})
	require.NoError(t, err)
	cur := m.Partitions()
	commit := cur.Version() + 10
	// The member's import message for partition q, as its owner sends it.
	importMsg := func(q int) []byte {
		msg, err := wire.Marshal(&struct {
			Partition int               `msgpack:"p"`
			Data      map[string][]byte `msgpack:"d"`
			Commit    uint64            `msgpack:"c"`
		}{q, map[string][]byte{ServiceName: data}, commit})
		require.NoError(t, err)
		return msg
	}
	_, err = s.m.Call(ctx, m.ID(), "member.import", importMsg(p))
	require.NoError(t, err)
	require.Equal(t, commit, s.m.ImportCommit(p))

	held := func() int {
		st, ok := s.parts[p].stores.Load("copied")
		if !ok {
			return 0
		}
		return st.entries.Size()
	}
	// elsewhere is cur at version, with partition q moved to another member.
	elsewhere := func(version uint64, q int) *partition.Table {
		rows := make([][]string, cur.Count())
		for i := range rows {
			rows[i] = cur.Replicas(i)
		}
		rows[q] = []string{"another-member"}
		tb, err := partition.NewTable(version, rows)
		require.NoError(t, err)
		return tb
	}
	older := elsewhere(cur.Version()+1, p)
	s.tableChanged(cur, older)
	require.Equal(t, 1, held(), "a table older than the copy's dropped it")
	s.tableChanged(older, elsewhere(commit, p))
	require.Zero(t, held(), "the copy's table came without this member, and the copy stayed")

	// A copy can arrive while a table that drops its partition is being
	// applied, after the member decided to drop what it held: a member back
	// from a split learns the coordinator's table while the rebalance
	// already copies partitions to it. The copy must stay.
	q := (p + 1) % cur.Count()
	s.parts[q].mu.Lock()
	s.parts[q].stores.Put(newStore("copied", storeConfig{}))
	s.parts[q].mu.Unlock()
	require.Zero(t, s.m.ImportCommit(q))
	s.beforeDrop = func() {
		_, err := s.m.Call(ctx, m.ID(), "member.import", importMsg(q))
		require.NoError(t, err)
	}
	defer func() { s.beforeDrop = nil }()
	s.tableChanged(cur, elsewhere(cur.Version()+1, q))
	st, ok := s.parts[q].stores.Load("copied")
	require.True(t, ok, "the copy that arrived while an older table was applied was dropped")
	require.Equal(t, 1, st.entries.Size())
}

// SplitConfig returns a test configuration for members on a network the
// test splits, which keep no backups and need two data members for a
// quorum: a member cut off alone loses its quorum and holds the only copy
// of the partitions it owned. The split and heal tests of grid and
// grid_test share it.
func SplitConfig(t testing.TB) (member.Config, *clustertest.Network) {
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	cfg.BackupCount = member.NoBackups
	return cfg, net
}

// A merge message is the only copy of what it carries: its sender dropped
// its own. When a split heals, members flap in and out of each other's
// view for a moment, and an owner may refuse the merge for want of a
// quorum; the merge is tried again until the owner takes it, where it was
// given up on and the acknowledged entries it carried were lost (1 run in
// about 30 of TestHealMergesTheMinoritysOnlyCopies under load).
//
// Here the owner is cut off with a lite member, so it has no quorum and
// the lite member still reaches it; the lite member sends the merge.
func TestMergeWaitsForTheOwnersQuorum(t *testing.T) {
	t.Parallel()
	cfg, net := SplitConfig(t)
	c := clustertest.Start(t, 2, cfg)
	lite := c.Add(func(cfg *member.Config) { cfg.Lite = true })
	c.WaitStable(3)
	ms := c.Members()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp := GetMap[string, string](lite, "merged")
	key := ""
	var kb []byte
	var p int
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("k-%d", i)
		b, part, err := mp.encodeKey(k)
		require.NoError(t, err)
		if lite.Partitions().Owner(part) == ms[0].ID() {
			key, kb, p = k, b, part
		}
	}
	val, err := mp.encodeValue("the only copy")
	require.NoError(t, err)
	msg := &mergeMsg{Map: "merged", Part: p, Entries: []wireRecord{{Key: kb, Val: val, Upd: time.Now().UnixNano()}}}

	net.Split([]*member.Member{ms[0], lite}, []*member.Member{ms[1]})
	require.Eventually(t, func() bool { return !ms[0].HasQuorum() }, time.Minute, 10*time.Millisecond,
		"the owner kept its quorum")
	refused := make(chan error, 1)
	s := serviceOf(lite)
	s.mergeRefused = func(err error) {
		select {
		case refused <- err:
		default:
		}
	}
	sent := make(chan error, 1)
	go func() { sent <- s.sendMerge(ctx, msg) }()
	select {
	case err := <-refused:
		require.ErrorIs(t, err, member.ErrNoQuorum, "the owner refused the merge for another reason")
	case err := <-sent:
		require.Failf(t, "the merge ended while its owner had no quorum", "err: %v", err)
	}
	net.Heal()
	require.NoError(t, <-sent, "the merge was given up on")
	got, ok, err := mp.Get(ctx, key)
	require.NoError(t, err)
	require.True(t, ok, "the merged entry is missing")
	require.Equal(t, "the only copy", got)
}

// A member back from a split learns the coordinator's table while the
// rebalance already copies partitions back to it. The member installs a
// table before its listeners run, so a copy can replace what the member
// owned alone before tableChanged has merged it; ImportPartition, which
// looked at the new table only, found the member no owner and merged
// nothing, and tableChanged then kept the copy: acknowledged entries lost
// (3 runs in 80 of TestHealMergesTheMinoritysOnlyCopies under load).
// Here the member's first table after the heal waits, in its listener,
// until a copy has replaced a partition it owned alone.
func TestCopyBeforeTheTableIsActedOnMergesWhatItReplaces(t *testing.T) {
	t.Parallel()
	cfg, net := SplitConfig(t)
	cfg.RejoinInterval = 300 * time.Millisecond
	c := clustertest.Start(t, 3, cfg)
	c.WaitStable(3)
	ms := c.Members()
	cut := ms[2]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mp := GetMap[string, int](ms[0], "apart")
	want := map[string]int{}
	for i := 0; len(want) < 20; i++ {
		k := fmt.Sprintf("k-%d", i)
		_, p, err := mp.encodeKey(k)
		require.NoError(t, err)
		if ms[0].Partitions().Owner(p) == cut.ID() {
			require.NoError(t, mp.Put(ctx, k, i))
			want[k] = i
		}
	}
	s := serviceOf(cut)
	// holds reports whether the cut-off member still holds every key given.
	holds := func(ks []string) bool {
		for _, k := range ks {
			kb, p, err := mp.encodeKey(k)
			require.NoError(t, err)
			pt := s.parts[p]
			pt.mu.Lock()
			st, ok := pt.stores.Load("apart")
			if ok {
				_, ok = st.entries.Load(string(kb))
			}
			pt.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}

	net.Split(ms[:2], ms[2:])
	ids := clustertest.DataMembers(ms[:2])
	require.Eventually(t, func() bool {
		return ms[0].Partitions().CheckPlacement(ids, 0) == nil && ms[1].Partitions().CheckPlacement(ids, 0) == nil
	}, time.Minute, 20*time.Millisecond, "the majority never took over the cut-off member's partitions")
	var fired, replaced atomic.Bool
	s.tableChanging = func(old, new *partition.Table) {
		if !fired.CompareAndSwap(false, true) {
			return
		}
		// The keys of partitions the member owned in old and not in new:
		// wait until a copy replaced one of them.
		var moved []string
		for k := range want {
			_, p, err := mp.encodeKey(k)
			require.NoError(t, err)
			if old.Owner(p) == cut.ID() && new.Owner(p) != cut.ID() {
				moved = append(moved, k)
			}
		}
		replaced.Store(len(moved) > 0 && clustertest.PollUntil(30*time.Second, func() bool { return !holds(moved) }))
	}
	net.Heal()
	c.WaitStable(3)
	require.True(t, fired.Load() && replaced.Load(), "no copy replaced a partition the member owned while it applied its first table after the heal (fired %v)", fired.Load())
	require.Eventually(t, func() bool {
		got, err := mp.GetAll(ctx, slices.Collect(maps.Keys(want)))
		return err == nil && len(got) == len(want)
	}, time.Minute, 20*time.Millisecond, "entries the cut-off member owned alone were not merged back")
	got, err := mp.GetAll(ctx, slices.Collect(maps.Keys(want)))
	require.NoError(t, err)
	require.Equal(t, want, got)
}
