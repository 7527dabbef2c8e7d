package sinks

import (
	"github.com/weir-dev/weir/dag"
)

// The observable and list sinks write an output log: entries that carry a
// writer's items together with markers of the job's snapshots, so that a
// reader can tell which items count — exactly once, with no help from the
// engine beyond the two-phase-commit hooks every sink gets.
//
// Every writer (one sink instance in one execution of a job) numbers its
// entries. It writes:
//
//   - begin, when it opens: the job exists (a reader learns of a job that
//     produces nothing);
//   - restore, after a restart from snapshot S taken in execution F: what
//     F prepared up to S counts, the rest of the executions before this one
//     does not (their items are processed again); after a restart from a
//     snapshot another job exported, S is 0: none of them counts;
//   - items, one entry per chunk of a batch;
//   - prepare, on the barrier of snapshot k: its items since the previous
//     prepare belong to k;
//   - commit, once snapshot k completed in the cluster (instance 0 only).
//
// A resolver reads entries in log order and decides. Three facts of the
// engine make that order sufficient: an execution's restore entries are
// written while it is set up, before any member starts it; a snapshot
// completes only once every writer's prepare entry is acknowledged, so a
// commit of k follows every prepare of k; and an execution is set up only
// after the previous one was aborted, so entries of an older execution that
// arrive after a newer one began come from a zombie and are dropped.
//
// An observable's log is one journal, in log order. A list is a map with
// no order: ReadList sorts a job's entries into one with the same
// properties (listOrder).

// entryKind says what an output log entry records.
type entryKind uint8

const (
	kindBegin entryKind = iota + 1
	kindRestore
	kindItems
	kindPrepare
	kindCommit
)

// entry is one record of an output log, as stored in the grid.
type entry struct {
	// Seq is the entry's position in an observable's log, assigned by the
	// append processor (0 in a list).
	Seq       uint64        `msgpack:"q,omitempty"`
	Kind      entryKind     `msgpack:"k"`
	Job       string        `msgpack:"j"`
	Exec      uint64        `msgpack:"e"`
	Inst      int           `msgpack:"i"`
	N         uint64        `msgpack:"n"` // the writer's entry number
	Guarantee dag.Guarantee `msgpack:"g,omitempty"`
	// Snap is the snapshot prepared, committed or restored from; From the
	// execution that took the restored snapshot.
	Snap uint64 `msgpack:"s,omitempty"`
	From uint64 `msgpack:"f,omitempty"`
	// Count items, each encoded with the item type's codec, back to back.
	Count int    `msgpack:"c,omitempty"`
	Items []byte `msgpack:"d,omitempty"`
}

// writerKey names one writer of a job.
type writerKey struct {
	exec uint64
	inst int
}

// entryKey names one entry of a job's log: its writer and its number.
type entryKey struct {
	w writerKey
	n uint64
}

// resolver decides which items of an output log count, fed its entries in
// log order. It is a pure state machine: no I/O, no clock.
type resolver struct {
	jobs map[string]*jobResolver
}

// jobResolver is the resolver's state for one job.
type jobResolver struct {
	latest  uint64 // the newest execution seen
	settled bool   // the executions before latest are decided
	ended   bool   // the job ended: nothing more counts
	// seen holds the entries read, to drop one written twice. (Not the
	// last number per writer: a list's entries are read sorted by phase,
	// so a writer's commit comes after its later prepares. Taking those
	// commits for repeats dropped every commit of a job that ended after a
	// prepare, and with them all its items.)
	seen map[entryKey]struct{}
	// pending holds exactly-once items not yet committed, in log order;
	// prepared[i] is the snapshot whose barrier followed them (0: none yet).
	pending  []*entry
	prepared []uint64
}

func newResolver() *resolver { return &resolver{jobs: map[string]*jobResolver{}} }

func (r *resolver) job(id string) *jobResolver {
	j, ok := r.jobs[id]
	if !ok {
		j = &jobResolver{seen: map[entryKey]struct{}{}}
		r.jobs[id] = j
	}
	return j
}

// add takes the next entry of the log and appends to out the item entries
// that now count, in log order.
func (r *resolver) add(e *entry, out []*entry) []*entry {
	j := r.job(e.Job)
	if j.ended {
		return out
	}
	k := entryKey{writerKey{e.Exec, e.Inst}, e.N}
	if _, seen := j.seen[k]; seen {
		return out // written twice (a retried write)
	}
	j.seen[k] = struct{}{}
	if e.Guarantee != dag.ExactlyOnce {
		// Without exactly-once there is nothing to decide: items count as
		// they come, again after a restart.
		if e.Kind == kindItems {
			out = append(out, e)
		}
		return out
	}
	switch {
	case e.Exec < j.latest:
		return out // a zombie of an execution that was replaced
	case e.Exec > j.latest:
		j.latest, j.settled = e.Exec, false
	}
	switch e.Kind {
	case kindBegin:
		return out
	case kindRestore:
		if !j.settled {
			out = j.settle(e.From, e.Snap, out)
		}
		return out
	}
	if !j.settled {
		// A run-time entry and no restore before it: the execution started
		// from scratch, and nothing before it counts.
		out = j.settle(0, 0, out)
	}
	switch e.Kind {
	case kindItems:
		j.pending = append(j.pending, e)
		j.prepared = append(j.prepared, 0)
	case kindPrepare:
		for i, p := range j.pending {
			if p.Exec == e.Exec && p.Inst == e.Inst && j.prepared[i] == 0 {
				j.prepared[i] = e.Snap
			}
		}
	case kindCommit:
		out = j.release(func(p *entry, snap uint64) (keep, emit bool) {
			if p.Exec == e.Exec && snap != 0 && snap <= e.Snap {
				return false, true
			}
			return true, false
		}, out)
	}
	return out
}

// settle decides the executions before the latest: what execution from
// prepared up to snapshot snap counts, everything else is dropped.
func (j *jobResolver) settle(from, snap uint64, out []*entry) []*entry {
	j.settled = true
	latest := j.latest
	return j.release(func(p *entry, s uint64) (keep, emit bool) {
		switch {
		case p.Exec == latest:
			return true, false
		case snap != 0 && p.Exec == from && s != 0 && s <= snap:
			return false, true
		}
		return false, false
	}, out)
}

// release walks the pending items in order, emitting or dropping those the
// decision says.
func (j *jobResolver) release(decide func(p *entry, snap uint64) (keep, emit bool), out []*entry) []*entry {
	k := 0
	for i, p := range j.pending {
		keep, emit := decide(p, j.prepared[i])
		if emit {
			out = append(out, p)
		}
		if keep {
			j.pending[k], j.prepared[k] = p, j.prepared[i]
			k++
		}
	}
	clear(j.pending[k:])
	j.pending, j.prepared = j.pending[:k], j.prepared[:k]
	return out
}

// finish ends a job. completed: it completed, so its last execution's
// items all count, prepared or not (no execution will follow to process
// them again); otherwise (failed, cancelled) its pending items never count.
func (r *resolver) finish(job string, completed bool, out []*entry) []*entry {
	j := r.job(job)
	if j.ended {
		return out
	}
	if completed {
		if !j.settled {
			out = j.settle(0, 0, out)
		}
		out = j.release(func(*entry, uint64) (bool, bool) { return false, true }, out)
	}
	j.ended = true
	j.pending, j.prepared = nil, nil
	return out
}
