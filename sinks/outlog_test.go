package sinks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/codec"
)

// logBuilder writes output log entries by hand, as writers would.
type logBuilder struct {
	g   dag.Guarantee
	n   map[writerKey]uint64
	log []*entry
}

func newLog(g dag.Guarantee) *logBuilder { return &logBuilder{g: g, n: map[writerKey]uint64{}} }

func (b *logBuilder) add(kind entryKind, exec uint64, inst int, snap, from uint64, items ...int) *entry {
	w := writerKey{exec, inst}
	b.n[w]++
	e := &entry{Kind: kind, Job: "job", Exec: exec, Inst: inst, N: b.n[w], Guarantee: b.g, Snap: snap, From: from}
	for _, it := range items {
		e.Items, _ = codec.For[int]().Append(e.Items, it)
		e.Count++
	}
	b.log = append(b.log, e)
	return e
}

func (b *logBuilder) begin(exec uint64, inst int) { b.add(kindBegin, exec, inst, 0, 0) }
func (b *logBuilder) items(exec uint64, inst int, items ...int) {
	b.add(kindItems, exec, inst, 0, 0, items...)
}
func (b *logBuilder) prepare(exec uint64, inst int, snap uint64) {
	b.add(kindPrepare, exec, inst, snap, 0)
}
func (b *logBuilder) commit(exec uint64, snap uint64) { b.add(kindCommit, exec, 0, snap, 0) }
func (b *logBuilder) restore(exec uint64, inst int, snap, from uint64) {
	b.add(kindRestore, exec, inst, snap, from)
}

// itemsOf decodes the items of entries.
func itemsOf(t *testing.T, es []*entry) []int {
	t.Helper()
	var out []int
	for _, e := range es {
		var err error
		out, err = decodeItems(codec.For[int](), e, out)
		require.NoError(t, err)
	}
	return out
}

// feed gives a resolver entries from, and returns the items counted.
func feed(t *testing.T, r *resolver, es []*entry) []int {
	t.Helper()
	var out []*entry
	for _, e := range es {
		out = r.add(e, out)
	}
	return itemsOf(t, out)
}

func TestResolverAtLeastOnceCountsEverything(t *testing.T) {
	t.Parallel()
	b := newLog(dag.AtLeastOnce)
	b.begin(1, 0)
	b.items(1, 0, 1, 2)
	b.begin(2, 0)
	b.items(1, 0, 3) // a zombie: still counts, at least once
	b.items(2, 0, 2, 3)
	r := newResolver()
	require.Equal(t, []int{1, 2, 3, 2, 3}, feed(t, r, b.log))
	require.Empty(t, itemsOf(t, r.finish("job", true, nil)))
}

func TestResolverExactlyOnceWaitsForCommit(t *testing.T) {
	t.Parallel()
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.begin(1, 1)
	b.items(1, 0, 1)
	b.items(1, 1, 10)
	b.prepare(1, 0, 1)
	b.items(1, 0, 2) // after instance 0's barrier: belongs to snapshot 2
	b.prepare(1, 1, 1)
	r := newResolver()
	require.Empty(t, feed(t, r, b.log), "nothing counts before a commit")
	b.log = b.log[:0]
	b.commit(1, 1)
	require.Equal(t, []int{1, 10}, feed(t, r, b.log))
	require.Equal(t, []int{2}, itemsOf(t, r.finish("job", true, nil)), "a completed job's tail counts")
}

func TestResolverRestoreKeepsWhatTheSnapshotCovered(t *testing.T) {
	t.Parallel()
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.items(1, 0, 1)
	b.prepare(1, 0, 1)
	b.commit(1, 1)
	b.items(1, 0, 2)
	b.prepare(1, 0, 2) // snapshot 2 completed, but the commit was never written
	b.items(1, 0, 3)   // after snapshot 2: processed again by execution 2
	b.begin(2, 0)
	b.begin(2, 1)
	b.restore(2, 0, 2, 1)
	b.restore(2, 1, 2, 1)
	b.items(1, 0, 99) // a zombie of execution 1
	b.items(2, 1, 3)
	r := newResolver()
	require.Equal(t, []int{1, 2}, feed(t, r, b.log))
	require.Equal(t, []int{3}, itemsOf(t, r.finish("job", true, nil)))
}

func TestResolverRestartFromScratchDropsEverything(t *testing.T) {
	t.Parallel()
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.items(1, 0, 1)
	b.prepare(1, 0, 1) // never completed
	b.begin(2, 0)
	b.items(2, 0, 1)
	r := newResolver()
	require.Empty(t, feed(t, r, b.log))
	require.Equal(t, []int{1}, itemsOf(t, r.finish("job", true, nil)))
}

func TestResolverRestoreFromAnotherJobsSnapshot(t *testing.T) {
	t.Parallel()
	// Execution 2 restarted, before any snapshot of the job completed, from
	// the snapshot the job started from, which another job exported: its
	// writers restore snapshot 0, and execution 1's items (prepared for a
	// snapshot that never completed) are processed again.
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.items(1, 0, 1)
	b.prepare(1, 0, 1)
	b.begin(2, 0)
	b.restore(2, 0, 0, 0)
	b.items(2, 0, 1)
	r := newResolver()
	require.Empty(t, feed(t, r, b.log))
	require.Equal(t, []int{1}, itemsOf(t, r.finish("job", true, nil)))
}

func TestResolverSnapshotIDReusedByANewExecution(t *testing.T) {
	t.Parallel()
	// A coordinator fail-over can number the next snapshot like the one
	// aborted: snapshot 2 of execution 1 never completed, snapshot 2 of
	// execution 2 did. Only the latter's items count.
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.items(1, 0, 1)
	b.prepare(1, 0, 1)
	b.commit(1, 1)
	b.items(1, 0, 2)
	b.prepare(1, 0, 2)
	b.begin(2, 0)
	b.restore(2, 0, 1, 1)
	b.items(2, 0, 2)
	b.prepare(2, 0, 2)
	b.commit(2, 2)
	b.commit(1, 2) // a zombie's commit, had it been written
	r := newResolver()
	require.Equal(t, []int{1, 2}, feed(t, r, b.log))
}

func TestResolverDropsRepeatsAndEndsFailedJobs(t *testing.T) {
	t.Parallel()
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	e := b.add(kindItems, 1, 0, 0, 0, 1)
	b.log = append(b.log, e) // written twice
	b.prepare(1, 0, 1)
	b.commit(1, 1)
	b.items(1, 0, 2)
	r := newResolver()
	require.Equal(t, []int{1}, feed(t, r, b.log))
	require.Empty(t, r.finish("job", false, nil), "a failed job's uncommitted items never count")
	b.log = b.log[:0]
	b.items(1, 0, 3)
	require.Empty(t, feed(t, r, b.log), "nothing counts after the end")
}

// A list is read sorted by phase: a writer's commits come after all its
// items and prepares, also the ones it wrote later. A job cancelled after
// a prepare whose snapshot never completed keeps what its commits covered
// (the commits used to be taken for repeats, and nothing counted).
func TestResolverListOfAJobEndedAfterAPrepare(t *testing.T) {
	t.Parallel()
	b := newLog(dag.ExactlyOnce)
	b.begin(1, 0)
	b.begin(1, 1)
	b.items(1, 0, 1)
	b.items(1, 1, 2)
	b.prepare(1, 0, 1)
	b.prepare(1, 1, 1)
	b.commit(1, 1)
	b.items(1, 0, 3)
	b.items(1, 1, 4)
	b.prepare(1, 0, 2)
	b.prepare(1, 1, 2) // snapshot 2 never completes: the job is cancelled
	r := newResolver()
	counted := feed(t, r, listOrder(slices.Clone(b.log)))
	counted = append(counted, itemsOf(t, r.finish("job", false, nil))...)
	require.ElementsMatch(t, []int{1, 2}, counted)
}

// TestResolverModel runs random job lineages — restarts, snapshots that
// complete or not, commits written or lost, zombies, snapshot ids reused —
// and checks that the items counted are the job's input, each once, in
// order per writer: read in log order, and in the list's sorted order.
func TestResolverModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		s := simulate(rand.New(rand.NewPCG(seed, 7)), 40)
		want := make([]int, s.inputs)
		for i := range want {
			want[i] = i
		}
		for _, order := range []string{"log", "list"} {
			es := slices.Clone(s.log)
			if order == "list" {
				rand.New(rand.NewPCG(seed, 8)).Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
				es = listOrder(es)
			}
			r := newResolver()
			var counted []*entry
			for _, e := range es {
				counted = r.add(e, counted)
			}
			counted = r.finish("job", true, counted)
			got := itemsOf(t, counted)
			require.ElementsMatch(t, want, got, "seed %d, %s order:\n%s", seed, order, s)
			last := map[writerKey]int{}
			for _, e := range counted {
				w := writerKey{e.Exec, e.Inst}
				v := itemsOf(t, []*entry{e})[0]
				if p, ok := last[w]; ok {
					require.Greater(t, v, p, "seed %d: writer %v out of order", seed, w)
				}
				last[w] = v
			}
		}
	}
}

// simulation is a job lineage's output log.
type simulation struct {
	inputs int
	log    []*entry
	steps  []string
}

func (s *simulation) String() string { return fmt.Sprint(s.steps) }

// simulate plays a job whose sink receives inputs items: item i goes to
// writer i modulo the execution's writers; a restart resumes at the input
// the last complete snapshot covered.
func simulate(rng *rand.Rand, inputs int) *simulation {
	s := &simulation{inputs: inputs}
	b := newLog(dag.ExactlyOnce)
	type complete struct {
		id, exec uint64
		pos      int
	}
	var last *complete
	var exec, nextSnap uint64 = 0, 1
	writers, pos, failures := 0, 0, 0
	start := func() {
		exec++
		writers = 1 + rng.IntN(3)
		for i := range writers {
			b.begin(exec, i)
		}
		pos = 0
		if last != nil {
			for i := range writers {
				b.restore(exec, i, last.id, last.exec)
			}
			pos = last.pos
		}
		s.steps = append(s.steps, fmt.Sprintf("exec %d (%d writers) from %d", exec, writers, pos))
	}
	start()
	for pos < inputs {
		switch r := rng.Float64(); {
		case r < 0.7:
			b.items(exec, pos%writers, pos)
			pos++
		case r < 0.85:
			id := nextSnap
			nextSnap++
			completes := rng.Float64() < 0.7
			for _, i := range rng.Perm(writers) {
				if completes || rng.IntN(2) == 0 {
					b.prepare(exec, i, id)
				}
			}
			if completes {
				last = &complete{id: id, exec: exec, pos: pos}
				if rng.Float64() < 0.7 {
					b.commit(exec, id)
				}
			}
			s.steps = append(s.steps, fmt.Sprintf("snapshot %d at %d complete=%v", id, pos, completes))
		case failures < 3:
			failures++
			old, oldWriters, oldPos := exec, writers, pos
			if rng.IntN(2) == 0 && last != nil {
				nextSnap = last.id + 1 // a new coordinator numbers after the last complete one
			}
			start()
			for range rng.IntN(3) { // zombies of the replaced execution
				b.items(old, oldPos%oldWriters, oldPos)
				b.prepare(old, oldPos%oldWriters, nextSnap)
				oldPos++
			}
		}
	}
	s.log = b.log
	return s
}
