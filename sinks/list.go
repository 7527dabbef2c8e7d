package sinks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/codec"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

// List collects a job's items in the grid, for tests and small results:
// ReadList reads them back, on any member, in the order each sink instance
// received them.
//
//	// in the job's builder:
//	pipeline.WriteTo(counts, sinks.List[pipeline.KV[string, int64]](p.Out))
//
//	// in the test, once job.Wait returned:
//	got, err := sinks.ReadList[pipeline.KV[string, int64]](ctx, m, "out")
//
// Each instance writes its items in chunks to the map "__weir.list.<name>",
// one entry per chunk, keyed by job, execution, instance and chunk number,
// so writes are idempotent and nothing is overwritten; the entries stay
// until ClearList. With dag.ExactlyOnce the sink also writes
// two-phase-commit markers (see Observable), and ReadList returns each item
// once whatever failures and restarts the job went through: the items
// covered by completed snapshots, and once the job completed, all of them.
// With dag.AtLeastOnce (or dag.None, if the job restarts from scratch) it
// returns every item written, repeats included. Jobs writing to one list
// are read in the order they were submitted.
func List[T any](name string) pipeline.Sink[T] {
	return pipeline.NewSink("list-"+name, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		if name == "" {
			return nil, errors.New("list sink: no name")
		}
		store := &listStore{m: grid.GetMap[listKey, entry](ctx, listMap(name))}
		return openLogWriter[T](ctx, fmt.Sprintf("list sink %q", name), store)
	})
}

func listMap(name string) string { return "__weir.list." + name }

// listKey is a list entry's key: unique per writer and entry.
type listKey struct {
	Job  string `msgpack:"j"`
	Exec uint64 `msgpack:"e"`
	Inst int    `msgpack:"i"`
	N    uint64 `msgpack:"n"`
}

type listStore struct {
	m *grid.Map[listKey, entry]
}

// append puts the entry under its own key; there is no reader to wait for.
func (s *listStore) append(ctx context.Context, e *entry, _ bool) error {
	return s.m.Put(ctx, listKey{Job: e.Job, Exec: e.Exec, Inst: e.Inst, N: e.N}, *e)
}

// ReadList returns the items written to the List sink called name, by
// every job that wrote to it, read through member m. Call it once the jobs
// completed: for a running exactly-once job it returns what its completed
// snapshots cover, for a failed or cancelled one what they covered when it
// ended. A list nothing wrote to is empty.
func ReadList[T any](ctx context.Context, m *member.Member, name string) ([]T, error) {
	byJob := map[string][]*entry{}
	err := grid.GetMap[listKey, entry](m, listMap(name)).Scan(ctx, func(_ listKey, e entry) bool {
		byJob[e.Job] = append(byJob[e.Job], &e)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read list %q: %w", name, err)
	}
	// Job IDs start with their submission time.
	jobs := slices.Sorted(maps.Keys(byJob))
	c := codec.For[T]()
	var out []T
	for _, id := range jobs {
		status, err := jobStatus(ctx, m, id)
		if err != nil {
			return nil, fmt.Errorf("read list %q: %w", name, err)
		}
		var counted []*entry
		res := newResolver()
		for _, e := range listOrder(byJob[id]) {
			counted = res.add(e, counted)
		}
		if status.Terminal() {
			counted = res.finish(id, status == dag.Completed, counted)
		}
		for _, e := range counted {
			if out, err = decodeItems(c, e, out); err != nil {
				return nil, fmt.Errorf("read list %q: decode items: %w", name, err)
			}
		}
	}
	return out, nil
}

// listOrder sorts one job's list entries into an order the resolver can
// read as a log: by execution; in each, the entries written while it was
// set up (begin, restore), then each writer's entries in the order it wrote
// them, then the commits. Commits follow every prepare they cover (as in a
// log, where a snapshot completes after all its prepares); an execution's
// items are decided by the end of the next execution's setup entries, as in
// a log.
func listOrder(es []*entry) []*entry {
	phase := func(e *entry) int {
		switch e.Kind {
		case kindBegin, kindRestore:
			return 0
		case kindCommit:
			return 2
		}
		return 1
	}
	slices.SortFunc(es, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.Exec, b.Exec), cmp.Compare(phase(a), phase(b)),
			cmp.Compare(a.Inst, b.Inst), cmp.Compare(a.N, b.N))
	})
	return es
}

// jobStatus is a job's status; a job whose record is gone counts as
// failed.
func jobStatus(ctx context.Context, m *member.Member, id string) (dag.JobStatus, error) {
	info, err := dag.JobByID(m, id).Info(ctx)
	if errors.Is(err, dag.ErrUnknownJob) {
		return dag.Failed, nil
	}
	return info.Status, err
}

// ClearList removes the items of the List sink called name (of every job),
// so that a later job starts it empty.
func ClearList(ctx context.Context, m *member.Member, name string) error {
	if err := grid.GetMap[listKey, entry](m, listMap(name)).Clear(ctx); err != nil {
		return fmt.Errorf("clear list %q: %w", name, err)
	}
	return nil
}
