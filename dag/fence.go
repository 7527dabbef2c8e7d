package dag

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/weir-dev/weir/grid"
)

// A job has one coordinator at a time, and the job record says which. Two
// members can both believe they coordinate a job: the cluster's coordinator
// and a member that took the job over while it thought the coordinator gone
// (a network partition, a pause, or a member slow to answer under load,
// taken for dead). Both then numbered the next execution old+1, and the
// members received two plans under one number (one execution's receivers
// ran twice, and panicked), or restored a snapshot older than the one the
// other coordinator had committed (output written twice).
//
// So every write of the record is conditional on the record being as this
// coordinator last wrote it (or, taking a job over, as it read it): same
// coordinator, execution, snapshot and write stamp, a random number new at
// every write (a fence, compared on the key's owner by an entry processor,
// atomically with every other write). The stamp makes any write in between
// refuse it: a takeover works from a record read by a scan, which reads a
// partition at one moment and runs its callback later, and a status write
// in between (a cancel recording Cancelled, then no longer coordinating
// the job here) changes neither coordinator, execution nor snapshot. Such a
// stale takeover overwrote Cancelled with a restart, and the cancelled job
// ran on. A record whose job ended is never written again either.
//
// A coordinator whose write finds the record changed has lost the job: it
// stops coordinating it (no snapshot, commit, restart or status change of
// its own from then on), and leaves its executions to the member that holds
// the record now. Except when the change is its own write: one that failed
// (a timeout) may have landed unacknowledged, and the next write, expecting
// the record before it, finds it changed. The coordinator then re-reads the
// record, finds its own stamp there, and writes again (persist). Its writes
// are serialized (coordJob.writeMu), so it never fences itself out
// otherwise. Execution numbers are claimed in the record before any member
// hears of them, so they never repeat, and a member refuses an execution
// older than one it already set up.

// fence is what a coordinator expects the job record to hold.
type fence struct {
	Coordinator string `msgpack:"c"`
	Execution   uint64 `msgpack:"e"`
	Snapshot    uint64 `msgpack:"s"`
	Stamp       uint64 `msgpack:"w,omitempty"`
}

func fenceOf(rec jobRecord) fence {
	return fence{Coordinator: rec.Info.Coordinator, Execution: rec.Info.Execution, Snapshot: rec.Snapshot.ID, Stamp: rec.Stamp}
}

// newStamp is the stamp of a record write: random, never 0 (a record
// written unfenced, at submission, has 0).
func newStamp() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

type fencedWrite struct {
	Expect fence     `msgpack:"x"`
	Rec    jobRecord `msgpack:"r"`
}

// recordWrite stores a job record if the stored one matches the fence.
var recordWrite = grid.RegisterProcessor("dag.job-record.fenced",
	func(_ string, cur jobRecord, exists bool, w fencedWrite) (jobRecord, grid.Action, bool, error) {
		if !exists || fenceOf(cur) != w.Expect || cur.Info.Status.Terminal() {
			return cur, grid.Keep, false, nil
		}
		return w.Rec, grid.Set, true, nil
	})

// errFenced: the job record changed under its coordinator: another member
// took the job over.
var errFenced = errors.New("dag: another member coordinates the job now")

// writeFenced writes rec if the stored record matches expect.
func (s *service) writeFenced(ctx context.Context, expect fence, rec jobRecord) error {
	if f := s.recordFault.Load(); f != nil {
		if err := (*f)(rec.Snapshot.ID); err != nil {
			return err
		}
	}
	ok, err := grid.Execute(ctx, s.jobs, rec.Info.ID, recordWrite, fencedWrite{Expect: expect, Rec: rec})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: job %s", errFenced, rec.Info.ID)
	}
	return nil
}

// lose stops coordinating the job, which another member took over: its
// snapshot loop and restarts end, and nothing of it is written any more.
// The executions it started are the new coordinator's to stop. If this
// member is the cluster's coordinator, it takes the job over again from its
// record (the other member, which took it while it thought this one gone,
// stops once it sees it is not the coordinator).
func (cj *coordJob) lose(err error) {
	cj.lostOnce.Do(func() {
		id := cj.id
		cj.s.log.Warn("no longer coordinating a job: another member took it over", "job", id, "err", err)
		cj.interruptSnapshot(errFenced)
		cj.cancel()
		s := cj.s
		s.mu.Lock()
		if s.coord[id] == cj {
			delete(s.coord, id)
		}
		s.mu.Unlock()
		s.adoptLater()
	})
}

// dropCoordinated stops coordinating every job here, without stopping
// their executions: this member is no longer the cluster's coordinator, or
// lost the quorum. The coordinator takes them over from their records.
func (s *service) dropCoordinated(why string) {
	s.mu.Lock()
	jobs := make([]*coordJob, 0, len(s.coord))
	for _, cj := range s.coord {
		jobs = append(jobs, cj)
	}
	clear(s.coord)
	s.mu.Unlock()
	for _, cj := range jobs {
		cj.handOver(why)
	}
}

// handOver stops coordinating the job, without stopping its executions:
// the cluster's coordinator with a quorum takes it over from its record.
func (cj *coordJob) handOver(why string) {
	cj.lostOnce.Do(func() {
		cj.s.log.Info("handing a job over to the coordinator", "job", cj.id, "reason", why)
		cj.interruptSnapshot(errFenced)
		cj.cancel()
		s := cj.s
		s.mu.Lock()
		if s.coord[cj.id] == cj {
			delete(s.coord, cj.id)
		}
		s.mu.Unlock()
	})
}
