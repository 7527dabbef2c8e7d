package grid_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// keysInPartition returns n keys with the given prefix in partition p.
func keysInPartition(t testing.TB, m *member.Member, prefix string, p, n int) []string {
	t.Helper()
	var ks []string
	for i := 0; len(ks) < n; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if partitionOf(t, m, k) == p {
			ks = append(ks, k)
		}
	}
	return ks
}

// event is the part of a journal event a test predicts.
type event struct {
	Seq      uint64
	Type     grid.EventType
	Key      string
	Value    int
	Old      int
	HasValue bool
	HasOld   bool
}

func events(t testing.TB, p int, evs []grid.Event[string, int]) []event {
	t.Helper()
	out := make([]event, len(evs))
	for i, e := range evs {
		require.Equal(t, p, e.Partition)
		require.False(t, e.Time.IsZero())
		out[i] = event{Seq: e.Seq, Type: e.Type, Key: e.Key, Value: e.Value, Old: e.Old, HasValue: e.HasValue, HasOld: e.HasOld}
	}
	return out
}

func TestJournal(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 60*time.Second)
	const capacity = 16
	mp := grid.GetMap[string, int](ms[0], "journal", grid.WithJournal(capacity))
	owner := ms[2]
	p := partitionOf(t, ms[0], keyOwnedBy(t, ms[0], "journal", owner.ID()))
	ks := keysInPartition(t, ms[0], "j", p, 4)
	// Writes to other partitions must not show in p's journal.
	noise := keyOwnedBy(t, ms[0], "noise", owner.ID())
	for partitionOf(t, ms[0], noise) == p {
		noise += "x"
	}

	// Each write, and the event it must add (none for writes that change
	// nothing).
	type step struct {
		do   func() error
		want *event
	}
	ok := func(_ bool, err error) error { return err }
	steps := []step{
		{func() error { return mp.Put(ctx, ks[0], 1) }, &event{Type: grid.Added, Key: ks[0], Value: 1, HasValue: true}},
		{func() error { return mp.Put(ctx, ks[0], 2) }, &event{Type: grid.Updated, Key: ks[0], Value: 2, HasValue: true, Old: 1, HasOld: true}},
		{func() error { return mp.Put(ctx, noise, 1) }, nil},
		{func() error { return mp.Put(ctx, ks[1], 10) }, &event{Type: grid.Added, Key: ks[1], Value: 10, HasValue: true}},
		{func() error { return mp.Delete(ctx, ks[0]) }, &event{Type: grid.Removed, Key: ks[0], Old: 2, HasOld: true}},
		{func() error { return mp.Delete(ctx, ks[0]) }, nil},
		{func() error { return ok(mp.CompareAndSwap(ctx, ks[1], 99, 11)) }, nil},
		{func() error { return ok(mp.CompareAndSwap(ctx, ks[1], 10, 11)) }, &event{Type: grid.Updated, Key: ks[1], Value: 11, HasValue: true, Old: 10, HasOld: true}},
		{func() error { stored, _, err := mp.PutIfAbsent(ctx, ks[1], 5); return ok(stored, err) }, nil},
		{func() error { stored, _, err := mp.PutIfAbsent(ctx, ks[2], 5); return ok(stored, err) }, &event{Type: grid.Added, Key: ks[2], Value: 5, HasValue: true}},
		{func() error { return ok(mp.Replace(ctx, ks[3], 1)) }, nil},
		{func() error { return ok(mp.CompareAndDelete(ctx, ks[2], 4)) }, nil},
		{func() error { return ok(mp.CompareAndDelete(ctx, ks[2], 5)) }, &event{Type: grid.Removed, Key: ks[2], Old: 5, HasOld: true}},
		// A value of zero is a value.
		{func() error { return mp.Put(ctx, ks[3], 0) }, &event{Type: grid.Added, Key: ks[3], Value: 0, HasValue: true}},
	}
	var want []event
	for i, s := range steps {
		require.NoError(t, s.do(), "step %d", i)
		if s.want != nil {
			e := *s.want
			e.Seq = uint64(len(want))
			want = append(want, e)
		}
	}

	// Read whole, through a member that is not the owner and through the
	// owner (which reads its own journal without a call).
	onOwner := grid.GetMap[string, int](owner, "journal", grid.WithJournal(capacity))
	for _, m := range []*grid.Map[string, int]{mp, onOwner} {
		b, err := m.Partitioned().ReadJournal(ctx, p, 0, 100)
		require.NoError(t, err)
		require.Equal(t, want, events(t, p, b.Events))
		require.Equal(t, uint64(len(want)), b.Next)
		require.Zero(t, b.Oldest)
	}

	// Read from the middle, a few at a time, and at the end.
	b, err := mp.Partitioned().ReadJournal(ctx, p, 2, 3)
	require.NoError(t, err)
	require.Equal(t, want[2:5], events(t, p, b.Events))
	require.Equal(t, uint64(5), b.Next)
	b, err = mp.Partitioned().ReadJournal(ctx, p, b.Next, 100)
	require.NoError(t, err)
	require.Equal(t, want[5:], events(t, p, b.Events))
	end := b.Next
	b, err = mp.Partitioned().ReadJournal(ctx, p, end, 100)
	require.NoError(t, err)
	require.Empty(t, b.Events)
	require.Equal(t, end, b.Next)

	// Overflow the ring: the oldest events go, the sequence goes on.
	for i := range 2 * capacity {
		require.NoError(t, mp.Put(ctx, ks[3], 100+i))
		want = append(want, event{Seq: uint64(len(want)), Type: grid.Updated, Key: ks[3], Value: 100 + i, HasValue: true, Old: want[len(want)-1].Value, HasOld: true})
	}
	next := uint64(len(want))
	oldest := next - capacity
	for _, m := range []*grid.Map[string, int]{mp, onOwner} {
		b, err := m.Partitioned().ReadJournal(ctx, p, 0, 100)
		require.ErrorIs(t, err, grid.ErrStaleSequence)
		require.Equal(t, oldest, b.Oldest, "a stale read says where to resume")
		b, err = m.Partitioned().ReadJournal(ctx, p, b.Oldest, 100)
		require.NoError(t, err)
		require.Equal(t, want[oldest:], events(t, p, b.Events))
		require.Equal(t, next, b.Next)
		require.Equal(t, oldest, b.Oldest)
	}

	// JournalWait on a member holding the partition closes when an event
	// at or after the sequence exists.
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	require.True(t, closed(onOwner.Partitioned().JournalWait(p, next-1)))
	wait := onOwner.Partitioned().JournalWait(p, next)
	require.NotNil(t, wait)
	require.False(t, closed(wait))
	replicas := ms[0].Partitions().Replicas(p)
	for _, m := range ms {
		if !slices.Contains(replicas, m.ID()) {
			require.Nil(t, grid.GetMap[string, int](m, "journal").Partitioned().JournalWait(p, 0), "%s holds no journal for partition %d", m.Name(), p)
		}
	}
	require.NoError(t, mp.Put(ctx, noise, 2))
	require.False(t, closed(wait), "an event in another partition")
	require.NoError(t, mp.Put(ctx, ks[1], 12))
	want = append(want, event{Seq: next, Type: grid.Updated, Key: ks[1], Value: 12, HasValue: true, Old: 11, HasOld: true})
	select {
	case <-wait:
	case <-time.After(freshnessBound):
		t.Fatal("JournalWait did not close when an event arrived")
	}

	// The owner crashes: the promoted backup has the same journal, and
	// numbers new events after it.
	owner.Terminate()
	c.WaitStable(2)
	require.NotEqual(t, owner.ID(), ms[0].Partitions().Owner(p))
	oldest = uint64(len(want)) - capacity
	b, err = mp.Partitioned().ReadJournal(ctx, p, oldest, 100)
	require.NoError(t, err)
	require.Equal(t, want[oldest:], events(t, p, b.Events), "the journal survives its owner")
	require.Equal(t, oldest, b.Oldest)
	require.NoError(t, mp.Delete(ctx, ks[1]))
	want = append(want, event{Seq: uint64(len(want)), Type: grid.Removed, Key: ks[1], Old: 12, HasOld: true})
	b, err = mp.Partitioned().ReadJournal(ctx, p, b.Next, 100)
	require.NoError(t, err)
	require.Equal(t, want[len(want)-1:], events(t, p, b.Events), "the sequence goes on")
	require.Equal(t, uint64(len(want)), b.Next)
}

func TestJournalErrors(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx := ctxT(t, 30*time.Second)
	plain := grid.GetMap[string, int](ms[0], "no-journal")
	require.NoError(t, plain.Put(ctx, "k", 1))
	p := partitionOf(t, ms[0], "k")
	_, err := plain.Partitioned().ReadJournal(ctx, p, 0, 10)
	require.ErrorIs(t, err, grid.ErrNoJournal)
	_, err = plain.Partitioned().ReadJournal(ctx, ms[0].PartitionCount(), 0, 10)
	require.Error(t, err)

	// A partition the map has not written yet reads as empty.
	j := grid.GetMap[string, int](ms[1], "journal-empty", grid.WithJournal(4))
	b, err := j.Partitioned().ReadJournal(ctx, 0, 0, 10)
	require.NoError(t, err)
	require.Empty(t, b.Events)
	require.Zero(t, b.Next)
}
