package dag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// Job IDs made in a row sort in the order they were made, even within one
// millisecond (the list sink reads jobs in ID order).
func TestJobIDsSortBySubmission(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = newJobID()
	}
	require.True(t, slices.IsSorted(ids))
	require.Len(t, slices.Compact(slices.Clone(ids)), len(ids))
}

// A stream the receiving member closed without a reason, or a sending
// member ended early, is a change of the cluster: the job restarts rather
// than fails.
func TestStoppedPeerIsAClusterChange(t *testing.T) {
	t.Parallel()
	require.True(t, transient(peerStopped(fmt.Errorf("send: %w", member.ErrStreamClosed))))
	other := errors.New("processor failed")
	require.Equal(t, other, peerStopped(other))
	require.False(t, transient(peerStopped(other)))
}

// A member cut off from the quorum refuses to set up an execution, with an
// error that makes the coordinator restart the job later rather than fail
// it.
func TestMemberWithoutQuorumTakesNoPartInAnExecution(t *testing.T) {
	t.Parallel()
	net := clustertest.NewNetwork()
	cfg := clustertest.Config(t)
	cfg.Faults = net
	cfg.MinClusterSize = 2
	c := clustertest.Start(t, 3, cfg)
	ms := c.Members()
	net.Split(ms[:2], ms[2:])
	require.True(t, clustertest.PollUntil(time.Minute, func() bool { return !ms[2].HasQuorum() }))
	payload, err := wire.Marshal(&plan{JobID: "j", Name: "not-registered"})
	require.NoError(t, err)
	_, err = serviceOf(ms[2]).handleInit(context.Background(), &member.Request{Payload: payload})
	require.ErrorIs(t, err, errClusterChanged)
	require.True(t, transient(err))
	net.Heal()
	c.WaitStable(3)
}

// A start request delivered twice for one execution starts it once: the
// second must not run its tasklets, senders and receivers again (a receiver
// run twice closed its finished channel twice, and the member panicked when
// the job was cancelled).
func TestExecutionStartsOnce(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 2, member.Config{})
	ms := c.Members()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := Submit(ctx, ms[0], "test.endless", struct{}{})
	require.NoError(t, err)
	var ex *execution
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		var ok bool
		ex, ok = serviceOf(ms[1]).execution(jobRef{JobID: job.ID})
		return ok && ex.started.Load()
	}), "the job never started on the second member")
	ref, err := wire.Marshal(&jobRef{JobID: job.ID, Execution: ex.plan.Execution})
	require.NoError(t, err)
	_, err = serviceOf(ms[1]).handleStart(ctx, &member.Request{Payload: ref})
	require.ErrorIs(t, err, errClusterChanged, "a second start is refused")
	planBytes, err := wire.Marshal(ex.plan)
	require.NoError(t, err)
	_, err = serviceOf(ms[1]).handleInit(ctx, &member.Request{Payload: planBytes})
	require.ErrorIs(t, err, errClusterChanged, "a second set-up of one execution is refused")
	again, ok := serviceOf(ms[1]).execution(jobRef{JobID: job.ID})
	require.True(t, ok)
	require.Same(t, ex, again, "the execution running is not replaced")
	require.NoError(t, job.Cancel(ctx))
	require.ErrorIs(t, job.Wait(ctx), ErrCancelled)
	select {
	case <-ex.done:
	case <-ctx.Done():
		t.Fatal("the execution never ended")
	}
}

// An execution replaced on a member by a newer one (set up by a coordinator
// that took the job over, or a restart this coordinator has not seen end)
// stops with "replaced by execution N". Reported to a coordinator still at
// the old execution, that failed the job (seen in the chaos tests and Go
// Green under load: "member …: replaced by execution 2"); the job must
// restart instead, and run on.
func TestReplacedExecutionDoesNotFailTheJob(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := Submit(ctx, m, "test.endless", struct{}{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(context.Background()) })
	var ex *execution
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		var ok bool
		ex, ok = serviceOf(m).execution(jobRef{JobID: job.ID})
		return ok && ex.started.Load()
	}), "the job never started")
	newer := *ex.plan
	newer.Execution++
	planBytes, err := wire.Marshal(&newer)
	require.NoError(t, err)
	_, err = serviceOf(m).handleInit(ctx, &member.Request{Payload: planBytes})
	require.NoError(t, err)
	select {
	case <-ex.done:
	case <-ctx.Done():
		t.Fatal("the replaced execution never ended")
	}
	var info JobInfo
	require.True(t, clustertest.PollUntil(30*time.Second, func() bool {
		info, err = job.Info(ctx)
		return err == nil && (info.Status == Failed || info.Status == Running && info.Execution > newer.Execution)
	}), "the job did not run again: %+v (%v)", info, err)
	require.Equal(t, Running, info.Status, "the job failed: %s", info.Error)
}

// Two setups of one job on a member at once (two coordinators for a
// moment, after a heal): the older one, finishing last, must not replace
// the newer one. It did: the newer execution ran on, unreachable by its
// coordinator, whose every snapshot then failed ("no execution 4 ... on
// member ... (stopped there)", 219 times in a minute after the heal in
// TestCoordinatorCutOffBySplit).
func TestOlderSetupFinishingLastReplacesNothing(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	s := serviceOf(m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := Submit(ctx, m, "test.endless", struct{}{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(context.Background()) })
	var ex *execution
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		var ok bool
		ex, ok = s.execution(jobRef{JobID: job.ID})
		return ok && ex.started.Load()
	}), "the job never started")
	plan := func(n uint64) []byte {
		p := *ex.plan
		p.Execution = n
		b, err := wire.Marshal(&p)
		require.NoError(t, err)
		return b
	}
	// The job's own restart (its execution is replaced below) waits.
	cj, ok := s.coordJob(job.ID)
	require.True(t, ok)
	cj.opMu.Lock()
	defer cj.opMu.Unlock()
	older, newer := ex.plan.Execution+1, ex.plan.Execution+2
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(n uint64) {
		if n == older {
			once.Do(func() { close(held) })
			<-release
		}
	}
	s.initHook.Store(&hook)
	olderDone := make(chan error, 1)
	go func() {
		_, err := s.handleInit(ctx, &member.Request{Payload: plan(older)})
		olderDone <- err
	}()
	<-held
	_, err = s.handleInit(ctx, &member.Request{Payload: plan(newer)})
	require.NoError(t, err)
	close(release)
	require.ErrorIs(t, <-olderDone, errClusterChanged, "the older setup was not refused")
	_, ok = s.execution(jobRef{JobID: job.ID, Execution: newer})
	require.True(t, ok, "the older setup replaced the newer execution")
	ref, err := wire.Marshal(&jobRef{JobID: job.ID, Execution: newer, Reason: "test over"})
	require.NoError(t, err)
	_, err = s.handleAbort(ctx, &member.Request{Payload: ref})
	require.NoError(t, err)
}

// A restart is Restarting until its execution is set up. A change of
// members seen meanwhile (watchMembers resumes a job left Restarting) must
// not restart the job once more when that restart is done:
// TestCancelAndRestartInterruptASnapshot/restart saw two restarts for one
// now and then (a member's first membership change comes just after its
// start).
func TestMembersChangeDuringARestart(t *testing.T) {
	t.Parallel()
	ctx, job, cj := runEndless(t)
	before, err := job.Info(ctx)
	require.NoError(t, err)

	// A restart in progress, as watchMembers sees it: Restarting, with its
	// new execution in the plan, opMu held.
	setStatus := func(st JobStatus) {
		cj.mu.Lock()
		cj.rec.Info.Status = st
		cj.mu.Unlock()
	}
	cj.opMu.Lock()
	setStatus(Restarting)
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		cj.resumeRestart(ctx, cj.currentPlan().Execution)
	}()
	setStatus(Running) // its execution set up
	cj.opMu.Unlock()
	<-resumed

	info, err := job.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Restarts, info.Restarts, "the job restarted again")
	require.Equal(t, before.Execution, info.Execution)
}

// A member change seen while the job is being suspended leaves it
// suspended. Suspending sets the plan of its next execution before the
// status Suspended; watchMembers read that plan in between, found one of
// its members gone (the failure detector flapped, at load 35) and
// restarted the job from it, once the suspend let go of opMu: the job ran
// on, and TestSuspendAndResume saw "a suspended job writes nothing" fail
// with counts three times those frozen on suspending.
func TestMemberChangeDuringASuspendLeavesItSuspended(t *testing.T) {
	t.Parallel()
	ctx, job, cj := runEndless(t)
	require.NoError(t, job.Suspend(ctx))
	before, err := job.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, Suspended, before.Status)

	// What watchMembers does with the plan it read during the suspend.
	cj.restartUntilRunning(ctx, "member gone", before.Execution)

	info, err := job.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, Suspended, info.Status, "a member change resumed a suspended job")
	require.Equal(t, before.Restarts, info.Restarts)
	require.Equal(t, before.Execution, info.Execution)
	_, runs := cj.s.execution(jobRef{JobID: job.ID})
	require.False(t, runs, "an execution runs while the job is suspended")
}

// JobInfo.LastSnapshot names the snapshot a resume restores, also after
// snapshots that did not complete: their IDs are not reused, so the count
// of snapshots is not that ID. TestSuspendAndResume compared the count
// with RestoredFrom, and failed whenever a snapshot had failed under load.
func TestLastSnapshotIsWhatAResumeRestores(t *testing.T) {
	t.Parallel()
	ctx, job, cj := runEndless(t, WithGuarantee(ExactlyOnce), WithSnapshotInterval(time.Hour))
	_, err := cj.snapshot(ctx)
	require.NoError(t, err)
	// A snapshot that began and did not complete (interrupted by a
	// restart, say, or failing to clear its slot): its ID is used.
	cj.opMu.Lock()
	p := cj.currentPlan()
	cj.mu.Lock()
	id, _, err := cj.life.Begin(participants(p, cj.d))
	if err == nil {
		cj.life.Abort(id, errors.New("test: interrupted"))
	}
	cj.mu.Unlock()
	cj.opMu.Unlock()
	require.NoError(t, err)
	require.NoError(t, job.Suspend(ctx))
	suspended, err := job.Info(ctx)
	require.NoError(t, err)
	require.NoError(t, job.Resume(ctx))
	resumed, err := job.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, suspended.LastSnapshot, resumed.RestoredFrom, "resumed from the snapshot taken on suspending")
	require.Equal(t, resumed.LastSnapshot, resumed.RestoredFrom)
	require.Less(t, suspended.Snapshots, suspended.LastSnapshot, "the failed snapshot used an ID")
}

// One fault is reported several times: by each member running the
// execution, and by the failure detector. Each report restarts from the
// execution it saw fail; only the first may restart the job, also when the
// others have passed their first look and wait for opMu meanwhile (one
// crash restarted a job three times so, in sources'
// TestWatchExactlyOnceThroughAMemberCrash).
func TestOneFaultReportedThriceRestartsOnce(t *testing.T) {
	t.Parallel()
	ctx, job, cj := runEndless(t)
	before, err := job.Info(ctx)
	require.NoError(t, err)

	// The three reports pass their first look while opMu is held (by a
	// snapshot, say): each interrupts the snapshot just before it waits
	// for opMu, which the interrupt hook below sees.
	const reports = 3
	waiting := make(chan struct{}, reports)
	hook := context.CancelCauseFunc(func(error) { waiting <- struct{}{} })
	cj.opMu.Lock()
	cj.interrupt.Store(&hook)
	var wg sync.WaitGroup
	for i := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cj.restart(ctx, fmt.Sprintf("report %d of a lost member", i), before.Execution)
		}()
	}
	for range reports {
		<-waiting
	}
	cj.interrupt.Store(nil)
	cj.opMu.Unlock()
	wg.Wait()

	info, err := job.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Restarts+1, info.Restarts, "one fault restarted the job more than once")
	require.Equal(t, before.Execution+1, info.Execution)
}

// A coordinator that handed its job over begins no snapshot: clearing the
// slot its numbering picks would delete what the job's new coordinator
// wrote there. A coordinator cut off by a split did so once the network
// healed, and the job then failed to restore the snapshot its record
// named (TestCoordinatorCutOffBySplit, 1 run in 3 of dag's tests).
func TestHandedOverCoordinatorClearsNoSlot(t *testing.T) {
	t.Parallel()
	ctx, job, cj := runEndless(t, WithGuarantee(ExactlyOnce), WithSnapshotInterval(time.Hour))
	m := cj.s.m

	// What the new coordinator wrote, in either slot.
	slots := make([]*grid.Map[string, []byte], 2)
	for i := range slots {
		slots[i] = grid.GetMap[string, []byte](m, snapshot.SlotMap(job.ID, i))
		require.NoError(t, slots[i].Put(ctx, "the new coordinator's", []byte("chunk")))
	}
	cj.handOver("test: another member coordinates the job")
	_, err := cj.snapshot(ctx)
	require.ErrorIs(t, err, errFenced)
	for i, mp := range slots {
		_, found, err := mp.Get(ctx, "the new coordinator's")
		require.NoError(t, err)
		require.True(t, found, "slot %d was cleared by a coordinator that handed the job over", i)
	}
}

// runEndless submits test.endless with opts to a member of its own, waits
// until the job runs, and returns a context for the test, the job and its
// coordinator's record of it.
func runEndless(t *testing.T, opts ...JobOption) (context.Context, *Job, *coordJob) {
	t.Helper()
	c := clustertest.Start(t, 1, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	job, err := Submit(ctx, m, "test.endless", struct{}{}, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = job.Cancel(context.Background()) })
	require.True(t, clustertest.PollUntil(time.Minute, func() bool {
		st, err := job.Status(ctx)
		return err == nil && st == Running
	}), "the job never ran")
	cj, ok := serviceOf(m).coordJob(job.ID)
	require.True(t, ok)
	return ctx, job, cj
}
