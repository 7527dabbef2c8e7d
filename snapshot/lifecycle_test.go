package snapshot_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/snapshot"
)

var (
	src0 = snapshot.ProcessorID{Vertex: "source", Index: 0}
	agg0 = snapshot.ProcessorID{Vertex: "agg", Index: 0}
	agg1 = snapshot.ProcessorID{Vertex: "agg", Index: 1}
	all  = []snapshot.ProcessorID{src0, agg0, agg1}
)

// fakeStore is the chunk storage Verify consults, as a set.
type fakeStore map[string]bool

func (f fakeStore) put(refs ...snapshot.ChunkRef) {
	for _, r := range refs {
		f[r.String()] = true
	}
}

func (f fakeStore) stored(refs []snapshot.ChunkRef) (int, error) {
	n := 0
	for _, r := range refs {
		if f[r.String()] {
			n++
		}
	}
	return n, nil
}

// chunks makes n chunk references of p in snapshot id, slot, with the
// given entries each.
func chunks(id uint64, slot int, p snapshot.ProcessorID, n int, entries int64) []snapshot.ChunkRef {
	var out []snapshot.ChunkRef
	for i := range n {
		out = append(out, snapshot.ChunkRef{Snapshot: id, Slot: slot, Vertex: p.Vertex, Partition: i, Writer: p.Index, Seq: uint32(i), Entries: entries, Bytes: 100})
	}
	return out
}

// cycle runs one snapshot to completion with every participant acking
// 2 chunks of 5 entries.
func cycle(t *testing.T, l *snapshot.Lifecycle, fs fakeStore) snapshot.Completed {
	t.Helper()
	id, slot, err := l.Begin(all)
	require.NoError(t, err)
	for i, p := range all {
		cs := chunks(id, slot, p, 2, 5)
		fs.put(cs...)
		allAcked, err := l.Ack(id, p, cs, 10)
		require.NoError(t, err)
		require.Equal(t, i == len(all)-1, allAcked)
	}
	require.NoError(t, l.Verify(id, fs.stored))
	c, err := l.Commit(id)
	require.NoError(t, err)
	return c
}

func TestLifecycleNormalCycle(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	_, ok := l.Last()
	require.False(t, ok)
	fs := fakeStore{}
	c := cycle(t, l, fs)
	require.Equal(t, uint64(1), c.ID)
	require.Equal(t, 1, c.Slot)
	require.Len(t, c.Manifest.Chunks, 6)
	require.Equal(t, int64(30), c.Manifest.Entries)
	require.Equal(t, int64(600), c.Manifest.Bytes)
	require.Equal(t, "agg", c.Manifest.Chunks[0].Vertex, "the manifest is sorted")
	last, ok := l.Last()
	require.True(t, ok)
	require.Equal(t, c, last)
	_, _, inProgress := l.InProgress()
	require.False(t, inProgress)

	c2 := cycle(t, l, fs)
	require.Equal(t, uint64(2), c2.ID)
	require.Equal(t, 0, c2.Slot, "slots alternate")
	require.Equal(t, 1, cycle(t, l, fs).Slot)
}

func TestLifecycleNeverCompletesWithoutEveryAck(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	fs := fakeStore{}
	id, slot, err := l.Begin(all)
	require.NoError(t, err)
	for _, p := range all[:2] {
		cs := chunks(id, slot, p, 1, 1)
		fs.put(cs...)
		allAcked, err := l.Ack(id, p, cs, 1)
		require.NoError(t, err)
		require.False(t, allAcked)
	}
	require.Equal(t, []snapshot.ProcessorID{agg1}, l.Missing())
	err = l.Verify(id, fs.stored)
	require.ErrorIs(t, err, snapshot.ErrIncomplete)
	require.ErrorContains(t, err, "1 of 3 processors have not acknowledged")
	_, err = l.Commit(id)
	require.ErrorIs(t, err, snapshot.ErrNotVerified)
	_, ok := l.Last()
	require.False(t, ok)
}

func TestLifecycleRefusesOverlappingBegin(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	id, _, err := l.Begin(all)
	require.NoError(t, err)
	_, _, err = l.Begin(all)
	require.ErrorIs(t, err, snapshot.ErrInProgress)
	got, _, ok := l.InProgress()
	require.True(t, ok)
	require.Equal(t, id, got, "the refused Begin changed nothing")
}

func TestLifecycleAbortKeepsThePreviousSnapshot(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	fs := fakeStore{}
	first := cycle(t, l, fs) // id 1, slot 1

	id, slot, err := l.Begin(all)
	require.NoError(t, err)
	require.Equal(t, uint64(2), id)
	require.Equal(t, 0, slot)
	_, err = l.Ack(id, src0, chunks(id, slot, src0, 1, 1), 1)
	require.NoError(t, err)
	reason := errors.New("member lost")
	l.Abort(id, reason)
	last, ok := l.Last()
	require.True(t, ok)
	require.Equal(t, first, last)
	abortedID, why := l.LastAborted()
	require.Equal(t, id, abortedID)
	require.Equal(t, reason, why)

	// A late ack of the aborted snapshot is refused, harmlessly.
	_, err = l.Ack(id, agg0, chunks(id, slot, agg0, 1, 1), 1)
	require.ErrorIs(t, err, snapshot.ErrNotInProgress)
	l.Abort(id, reason) // again: nothing

	// The next snapshot takes a new id, and not the slot holding snapshot
	// 1, although id 3 % 2 == 1.
	id, slot, err = l.Begin(all)
	require.NoError(t, err)
	require.Equal(t, uint64(3), id)
	require.Equal(t, 0, slot)
	l.Abort(id, reason)
	c := cycle(t, l, fs)
	require.Equal(t, uint64(4), c.ID)
	require.Equal(t, 0, c.Slot)
	require.Equal(t, 1, cycle(t, l, fs).Slot)
}

func TestLifecycleVerifyFailures(t *testing.T) {
	tests := []struct {
		name string
		// ack acknowledges p's chunks; it returns the chunks to store.
		ack  func(t *testing.T, l *snapshot.Lifecycle, id uint64, slot int, p snapshot.ProcessorID) []snapshot.ChunkRef
		want string
	}{
		{"a chunk is missing", func(t *testing.T, l *snapshot.Lifecycle, id uint64, slot int, p snapshot.ProcessorID) []snapshot.ChunkRef {
			cs := chunks(id, slot, p, 3, 4)
			_, err := l.Ack(id, p, cs, 12)
			require.NoError(t, err)
			if p == agg1 {
				return cs[:2]
			}
			return cs
		}, "1 of 9 chunks not stored"},
		{"entry counts disagree", func(t *testing.T, l *snapshot.Lifecycle, id uint64, slot int, p snapshot.ProcessorID) []snapshot.ChunkRef {
			cs := chunks(id, slot, p, 3, 4)
			entries := int64(12)
			if p == agg0 {
				entries = 13
			}
			_, err := l.Ack(id, p, cs, entries)
			require.NoError(t, err)
			return cs
		}, "agg#0 acknowledged 13 entries, its chunks hold 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := snapshot.NewLifecycle(snapshot.Completed{})
			fs := fakeStore{}
			id, slot, err := l.Begin(all)
			require.NoError(t, err)
			for _, p := range all {
				fs.put(tt.ack(t, l, id, slot, p)...)
			}
			err = l.Verify(id, fs.stored)
			require.ErrorIs(t, err, snapshot.ErrIncomplete)
			require.ErrorContains(t, err, tt.want)
			_, err = l.Commit(id)
			require.ErrorIs(t, err, snapshot.ErrNotVerified)
		})
	}
}

func TestLifecycleVerifiesAgainAfterAStorageError(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	id, slot, err := l.Begin([]snapshot.ProcessorID{agg0})
	require.NoError(t, err)
	_, err = l.Ack(id, agg0, chunks(id, slot, agg0, 1, 1), 1)
	require.NoError(t, err)
	boom := errors.New("grid unreachable")
	err = l.Verify(id, func([]snapshot.ChunkRef) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	// Still in progress: verify again once the grid answers.
	require.NoError(t, l.Verify(id, func(refs []snapshot.ChunkRef) (int, error) { return len(refs), nil }))
	_, err = l.Commit(id)
	require.NoError(t, err)
}

func TestLifecycleRefusesBadAcks(t *testing.T) {
	l := snapshot.NewLifecycle(snapshot.Completed{})
	id, slot, err := l.Begin(all)
	require.NoError(t, err)
	_, err = l.Ack(id, agg0, chunks(id, slot, agg0, 1, 1), 1)
	require.NoError(t, err)

	tests := []struct {
		name    string
		id      uint64
		from    snapshot.ProcessorID
		chunks  []snapshot.ChunkRef
		entries int64
		is      error
	}{
		{"duplicate", id, agg0, nil, 0, snapshot.ErrBadAck},
		{"unknown participant", id, snapshot.ProcessorID{Vertex: "sink", Index: 0}, nil, 0, snapshot.ErrBadAck},
		{"unknown id", id + 1, agg1, nil, 0, snapshot.ErrNotInProgress},
		{"chunk of another snapshot", id, agg1, chunks(id+1, slot, agg1, 1, 1), 1, snapshot.ErrBadAck},
		{"chunk of another slot", id, agg1, chunks(id, 1-slot, agg1, 1, 1), 1, snapshot.ErrBadAck},
		{"chunk of another processor", id, agg1, chunks(id, slot, agg0, 1, 1), 1, snapshot.ErrBadAck},
		{"negative entries", id, agg1, nil, -1, snapshot.ErrBadAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Ack(tt.id, tt.from, tt.chunks, tt.entries)
			require.ErrorIs(t, err, tt.is)
		})
	}
	require.Equal(t, []snapshot.ProcessorID{agg1, src0}, l.Missing(), "refused acks changed nothing")

	_, _, err = snapshot.NewLifecycle(snapshot.Completed{}).Begin(nil)
	require.ErrorIs(t, err, snapshot.ErrBadAck)
	_, _, err = snapshot.NewLifecycle(snapshot.Completed{}).Begin([]snapshot.ProcessorID{agg0, agg0})
	require.ErrorIs(t, err, snapshot.ErrBadAck)
	err = snapshot.NewLifecycle(snapshot.Completed{}).Verify(1, nil)
	require.ErrorIs(t, err, snapshot.ErrNotInProgress)
}

func TestLifecycleRestartContinuesNumbering(t *testing.T) {
	// The job record held snapshot 7, in slot 1; the new coordinator's
	// Lifecycle starts from it.
	restored := snapshot.Completed{ID: 7, Slot: 1, Manifest: snapshot.Manifest{Entries: 3}}
	for _, tt := range []struct {
		restored snapshot.Completed
		wantID   uint64
		wantSlot int
	}{
		{restored, 8, 0},
		{snapshot.Completed{ID: 8, Slot: 1}, 9, 0}, // an abort before the change left 8 in slot 1
		{snapshot.Completed{ID: 8, Slot: 0, Manifest: snapshot.Manifest{Map: snapshot.NamedMap("x")}}, 9, 1},
	} {
		t.Run(fmt.Sprint(tt.restored.ID, tt.restored.Slot), func(t *testing.T) {
			l := snapshot.NewLifecycle(tt.restored)
			last, ok := l.Last()
			require.True(t, ok)
			require.Equal(t, tt.restored, last)
			id, slot, err := l.Begin(all)
			require.NoError(t, err)
			require.Equal(t, tt.wantID, id)
			require.Equal(t, tt.wantSlot, slot)
		})
	}
}
