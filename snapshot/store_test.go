package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/keys"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

var ctxT = clustertest.Ctx

// job is a job's snapshots as a test drives them: a coordinator's
// Lifecycle and processors spread over members, each with its own view of
// the store.
type job struct {
	t      *testing.T
	ctx    context.Context
	id     string
	ms     []*member.Member
	lc     *snapshot.Lifecycle
	procs  []snapshot.ProcessorID
	saved  map[uint64]saved // what each snapshot saved
	lastWr map[snapshot.ProcessorID][]snapshot.ChunkRef
}

// saved is what processors saved for one snapshot.
type saved struct {
	keyed map[string]string            // encoded key -> value
	bcast map[string]map[string]string // vertex -> key -> value
}

// newJob has `sources` source instances, which save broadcast offsets, and
// `aggs` aggregator instances, which save keyed state (and one broadcast
// entry each), placed on the members round-robin.
func newJob(t *testing.T, id string, ms []*member.Member, sources, aggs int) *job {
	j := &job{t: t, ctx: ctxT(t, 60*time.Second), id: id, ms: ms, lc: snapshot.NewLifecycle(snapshot.Completed{}), saved: map[uint64]saved{}}
	for i := range sources {
		j.procs = append(j.procs, snapshot.ProcessorID{Vertex: "source", Index: i})
	}
	for i := range aggs {
		j.procs = append(j.procs, snapshot.ProcessorID{Vertex: "agg", Index: i})
	}
	return j
}

func (j *job) store(i int) *snapshot.Store { return snapshot.OpenStore(j.ms[i%len(j.ms)], j.id) }

// write runs one snapshot up to the acks: every processor saves its state,
// perAgg keyed entries for each aggregator, values tagged with the
// snapshot id so a restore of the wrong snapshot shows.
func (j *job) write(perAgg int) (id uint64) {
	t := j.t
	id, slot, err := j.lc.Begin(j.procs)
	require.NoError(t, err)
	last, _ := j.lc.Last()
	require.NoError(t, j.store(0).ClearSlot(j.ctx, slot, last.Manifest))
	sv := saved{keyed: map[string]string{}, bcast: map[string]map[string]string{}}
	j.saved[id] = sv
	j.lastWr = map[snapshot.ProcessorID][]snapshot.ChunkRef{}
	for i, p := range j.procs {
		w := j.store(i).Writer(id, slot, p)
		put := func(broadcast bool, k, v string) {
			var err error
			if broadcast {
				err = w.PutBroadcast([]byte(k), []byte(v))
				if sv.bcast[p.Vertex] == nil {
					sv.bcast[p.Vertex] = map[string]string{}
				}
				sv.bcast[p.Vertex][k] = v
			} else {
				kb, kerr := keys.Encode(k)
				require.NoError(t, kerr)
				err = w.Put(kb, []byte(v))
				sv.keyed[string(kb)] = v
			}
			require.NoError(t, err)
		}
		switch p.Vertex {
		case "source":
			put(true, fmt.Sprintf("offset-%d", p.Index), fmt.Sprintf("%d@%d", 1000*p.Index, id))
		case "agg":
			put(true, fmt.Sprintf("agg-meta-%d", p.Index), fmt.Sprint(id))
			for n := range perAgg {
				put(false, fmt.Sprintf("key-%d-%d", p.Index, n), fmt.Sprintf("%d@%d", n, id))
			}
		}
		chunks, entries, err := w.Close(j.ctx)
		require.NoError(t, err)
		j.lastWr[p] = chunks
		_, err = j.lc.Ack(id, p, chunks, entries)
		require.NoError(t, err)
	}
	return id
}

func (j *job) verify(id uint64) error {
	st := j.store(1)
	return j.lc.Verify(id, func(refs []snapshot.ChunkRef) (int, error) { return st.Stored(j.ctx, refs) })
}

// snapshot writes, verifies and commits a snapshot.
func (j *job) snapshot(perAgg int) snapshot.Completed {
	id := j.write(perAgg)
	require.NoError(j.t, j.verify(id))
	c, err := j.lc.Commit(id)
	require.NoError(j.t, err)
	return c
}

// restore reads vertex back for instances, instance i accepting the
// partitions owns(i, p) accepts, reading through store i, and checks that
// every keyed entry reached exactly one instance and every broadcast entry
// every instance.
func (j *job) restore(c snapshot.Completed, stores []*snapshot.Store, owns func(i, p int) bool) {
	t := j.t
	sv := j.saved[c.ID]
	seen := map[string]int{}
	for i, st := range stores {
		for _, vertex := range []string{"source", "agg"} {
			bcast := map[string]string{}
			err := st.Read(j.ctx, c, vertex, func(p int) bool { return owns(i, p) }, func(k, v []byte) error {
				if bytes.HasPrefix(k, []byte("offset-")) || bytes.HasPrefix(k, []byte("agg-meta-")) {
					bcast[string(k)] = string(v)
					return nil
				}
				want, ok := sv.keyed[string(k)]
				require.True(t, ok, "restored key %q was never saved", k)
				require.Equal(t, want, string(v))
				seen[string(k)]++
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, sv.bcast[vertex], bcast, "instance %d sees every broadcast entry of %s", i, vertex)
		}
	}
	require.Len(t, seen, len(sv.keyed), "every keyed entry restored")
	for k, n := range seen {
		require.Equal(t, 1, n, "key %q restored %d times", k, n)
	}
}

func TestStore(t *testing.T) {
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()

	t.Run("restore on another split delivers every key exactly once", func(t *testing.T) {
		j := newJob(t, "split", ms, 3, 6)
		first := j.snapshot(500)
		require.Equal(t, uint64(1), first.ID)
		require.Equal(t, int64(3+6+6*500), first.Manifest.Entries)
		// Written by 9 instances on 3 members; restored by 2, then by 5.
		for _, n := range []int{2, 5} {
			stores := make([]*snapshot.Store, n)
			for i := range stores {
				stores[i] = j.store(i + 1)
			}
			j.restore(first, stores, func(i, p int) bool { return p%n == i })
		}
		// The next snapshot goes to the other slot; restoring it sees its
		// values, not the first one's.
		second := j.snapshot(300)
		require.Equal(t, 0, second.Slot)
		j.restore(second, []*snapshot.Store{j.store(0)}, func(int, int) bool { return true })
	})

	t.Run("large state is chunked by partition, a huge entry alone", func(t *testing.T) {
		st := snapshot.OpenStore(ms[0], "large")
		w := st.Writer(1, 1, agg0)
		const n = 100_000
		value := make([]byte, 32)
		for i := range n {
			k, err := keys.Encode(int64(i))
			require.NoError(t, err)
			require.NoError(t, w.Put(k, value))
			if i%20_000 == 0 {
				require.NoError(t, w.Flush(ctxT(t, 30*time.Second)))
			}
		}
		huge := bytes.Repeat([]byte("x"), 1<<20)
		hugeKey, _ := keys.Encode("huge")
		require.NoError(t, w.Put(hugeKey, huge))
		require.Greater(t, w.Buffered(), 1<<20)
		refs, entries, err := w.Close(ctxT(t, 30*time.Second))
		require.NoError(t, err)
		require.Equal(t, int64(n+1), entries)
		require.Zero(t, w.Buffered())

		parts := map[int]int{}
		hugeChunks := 0
		for _, r := range refs {
			parts[r.Partition]++
			if r.Bytes > snapshot.ChunkSize {
				hugeChunks++
				require.Equal(t, int64(1), r.Entries, "only a single entry may exceed the chunk size")
			}
		}
		require.Equal(t, 1, hugeChunks)
		require.Len(t, parts, ms[0].PartitionCount(), "100k keys reach every partition, one chunk group each")
		require.Less(t, len(refs), 2*ms[0].PartitionCount(), "chunks are packed, not one per entry")

		found, err := st.Stored(ctxT(t, 30*time.Second), refs)
		require.NoError(t, err)
		require.Equal(t, len(refs), found)

		c := snapshot.Completed{ID: 1, Slot: 1, Manifest: snapshot.Manifest{Chunks: refs, Entries: entries}}
		got, sawHuge := 0, false
		err = snapshot.OpenStore(ms[2], "large").Read(ctxT(t, 30*time.Second), c, "agg", func(int) bool { return true }, func(k, v []byte) error {
			got++
			if bytes.Equal(k, hugeKey) {
				sawHuge = bytes.Equal(v, huge)
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, n+1, got)
		require.True(t, sawHuge)
	})

	t.Run("a lost chunk fails verification and restore", func(t *testing.T) {
		j := newJob(t, "lost", ms, 1, 3)
		id := j.write(2000)
		victim := j.lastWr[agg1][len(j.lastWr[agg1])/2]
		require.NoError(t, snapshot.DeleteChunk(j.ctx, j.store(0), victim))
		err := j.verify(id)
		require.ErrorIs(t, err, snapshot.ErrIncomplete)
		require.ErrorContains(t, err, "1 of")
		_, err = j.lc.Commit(id)
		require.ErrorIs(t, err, snapshot.ErrNotVerified)

		// Had it been committed anyway, the restore would fail loudly.
		var refs []snapshot.ChunkRef
		for _, cs := range j.lastWr {
			refs = append(refs, cs...)
		}
		bad := snapshot.Completed{ID: id, Slot: victim.Slot, Manifest: snapshot.Manifest{Chunks: refs}}
		err = j.store(2).Read(j.ctx, bad, "agg", func(int) bool { return true }, func(k, v []byte) error { return nil })
		require.ErrorIs(t, err, snapshot.ErrCorrupt)
		require.ErrorContains(t, err, "missing")
	})

	t.Run("ClearSlot empties the freed slot and refuses the kept one", func(t *testing.T) {
		j := newJob(t, "clear", ms, 1, 2)
		first := j.snapshot(100)  // slot 1
		second := j.snapshot(100) // slot 0
		st := j.store(0)
		err := st.ClearSlot(j.ctx, second.Slot, second.Manifest)
		require.ErrorIs(t, err, snapshot.ErrSlotInUse)
		requireStored(t, st, second.Manifest.Chunks, len(second.Manifest.Chunks))

		// An attempt that is aborted leaves orphans in slot 1 ...
		id := j.write(100)
		orphans := slices.Concat(slices.Collect(maps.Values(j.lastWr))...)
		j.lc.Abort(id, fmt.Errorf("test"))
		requireStored(t, st, orphans, len(orphans))
		// ... which go, with the first snapshot's chunks, when the slot is
		// cleared for the next one.
		_, slot, err := j.lc.Begin(j.procs)
		require.NoError(t, err)
		require.Equal(t, first.Slot, slot)
		require.NoError(t, st.ClearSlot(j.ctx, slot, second.Manifest))
		requireStored(t, st, orphans, 0)
		requireStored(t, st, first.Manifest.Chunks, 0)
		requireStored(t, st, second.Manifest.Chunks, len(second.Manifest.Chunks))
		j.restore(second, []*snapshot.Store{j.store(1)}, func(int, int) bool { return true })

		require.NoError(t, st.Drop(j.ctx))
		requireStored(t, st, second.Manifest.Chunks, 0)
	})

	t.Run("export and import a named snapshot", func(t *testing.T) {
		j := newJob(t, "exporter", ms, 2, 3)
		first := j.snapshot(400)
		require.NoError(t, j.store(0).Export(j.ctx, first, "nightly"))

		named, c, err := snapshot.OpenNamed(j.ctx, ms[1], "nightly")
		require.NoError(t, err)
		require.Equal(t, first.ID, c.ID)
		require.Equal(t, snapshot.NamedMap("nightly"), c.Manifest.Map)
		require.Equal(t, ms[1].PartitionCount(), c.Manifest.Partitions)
		// The job's own snapshot can go: the named copy stands alone.
		require.NoError(t, j.store(0).Drop(j.ctx))
		j.restore(c, []*snapshot.Store{named, snapshot.OpenStore(ms[2], "another-job")}, func(i, p int) bool { return p%2 == i })

		// A new job starts from it and numbers on.
		lc := snapshot.NewLifecycle(c)
		id, _, err := lc.Begin(j.procs)
		require.NoError(t, err)
		require.Equal(t, first.ID+1, id)

		// Writing through the named store is refused.
		_, _, err = named.Writer(1, 0, agg0).Close(j.ctx)
		require.ErrorIs(t, err, snapshot.ErrReadOnly)
		require.ErrorIs(t, named.ClearSlot(j.ctx, 0, snapshot.Manifest{}), snapshot.ErrReadOnly)

		// Exporting again under the name replaces it and deletes the old
		// chunks.
		second := j.snapshot(100)
		require.NoError(t, j.store(1).Export(j.ctx, second, "nightly"))
		_, c2, err := snapshot.OpenNamed(j.ctx, ms[0], "nightly")
		require.NoError(t, err)
		require.Equal(t, second.ID, c2.ID)
		requireStored(t, named, c.Manifest.Chunks, 0)
		requireStored(t, named, c2.Manifest.Chunks, len(c2.Manifest.Chunks))
		j.restore(c2, []*snapshot.Store{named}, func(int, int) bool { return true })

		require.NoError(t, named.Drop(j.ctx))
		_, _, err = snapshot.OpenNamed(j.ctx, ms[0], "nightly")
		require.ErrorIs(t, err, snapshot.ErrNoSnapshot)
	})

	t.Run("a named snapshot from a cluster with another partition count routes entry by entry", func(t *testing.T) {
		j := newJob(t, "repartition", ms, 1, 2)
		first := j.snapshot(300)
		require.NoError(t, j.store(0).Export(j.ctx, first, "elsewhere"))
		_, c, err := snapshot.OpenNamed(j.ctx, ms[0], "elsewhere")
		require.NoError(t, err)
		// Pretend it came from a cluster of 7 partitions: chunk partitions
		// mean nothing here, entries are routed by their keys.
		c.Manifest.Partitions = 7
		j.restore(c, []*snapshot.Store{j.store(0), j.store(1), j.store(2)}, func(i, p int) bool { return p%3 == i })
	})
}

func requireStored(t *testing.T, st *snapshot.Store, refs []snapshot.ChunkRef, want int) {
	t.Helper()
	found, err := st.Stored(ctxT(t, 30*time.Second), refs)
	require.NoError(t, err)
	require.Equal(t, want, found)
}

func TestStoreSurvivesAMemberCrash(t *testing.T) {
	c := clustertest.Start(t, 3, member.Config{})
	ms := c.Members()
	j := newJob(t, "crash", ms, 3, 6)
	done := j.snapshot(1000)

	ms[2].Terminate()
	c.WaitStable(2)
	live := ms[:2]
	// Restore on the two survivors, each instance taking the partitions its
	// member owns now.
	owned := make([]map[int]bool, len(live))
	stores := make([]*snapshot.Store, len(live))
	for i, m := range live {
		owned[i] = map[int]bool{}
		for _, p := range m.Partitions().Owned(m.ID()) {
			owned[i][p] = true
		}
		stores[i] = snapshot.OpenStore(m, j.id)
	}
	j.ms = live
	j.restore(done, stores, func(i, p int) bool { return owned[i][p] })
	requireStored(t, stores[0], done.Manifest.Chunks, len(done.Manifest.Chunks))
}

func TestWriterMisuse(t *testing.T) {
	c := clustertest.Start(t, 1, member.Config{})
	st := snapshot.OpenStore(c.Members()[0], "misuse")
	ctx := ctxT(t, 10*time.Second)

	w := st.Writer(1, 1, agg0)
	chunks, entries, err := w.Close(ctx)
	require.NoError(t, err)
	require.Empty(t, chunks, "a processor without state acknowledges no chunks")
	require.Zero(t, entries)
	require.ErrorIs(t, w.Put([]byte{1}, nil), snapshot.ErrWriterClosed)
	_, _, err = w.Close(ctx)
	require.NoError(t, err, "Close again returns the same")

	_, _, err = st.Writer(1, 2, agg0).Close(ctx)
	require.ErrorContains(t, err, "slot 2")
	require.ErrorContains(t, st.Writer(0, 0, agg0).Put([]byte{1}, nil), "ids start at 1")
	require.True(t, strings.HasPrefix(snapshot.SlotMap("j", 1), "__weir.snap.j"))
}
