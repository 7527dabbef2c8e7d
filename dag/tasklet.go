package dag

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/snapshot"
)

// inputEdge is one inbound edge of a processor instance: one queue per
// producer feeding it.
type inputEdge struct {
	ordinal   int
	priority  int
	batchSize int // items per batch on the edge: the least a queue's limit allows
	et        edgeType
	queues    []*queue
	base      int     // aligner index of queues[0]
	wm        []int64 // last watermark per queue
	done      []bool
	open      int  // queues not done
	complete  bool // CompleteEdge returned true
	next      int  // round-robin position
}

// tasklet runs one processor instance: it moves batches from the inbound
// queues into the processor and its output into the outbound queues. Each
// tasklet runs on its own goroutine (see the package documentation for why),
// parking when it can make no progress and woken by the queues' other ends.
type tasklet struct {
	p      Processor
	ctx    *Context
	name   string // vertex#globalIndex, for errors
	ins    []*inputEdge
	outs   []output
	inbox  Inbox
	inEdge *inputEdge // edge and queue the inbox came from
	inQ    int

	wmSeen    int64  // highest coalesced watermark scheduled (never Idle)
	wmNext    int64  // the watermark being handled: wmSeen, or Idle
	idleSent  bool   // every input is idle and Idle was scheduled
	wmPending bool   // ProcessWatermark not yet done for wmNext
	wmForward bool   // wmNext not yet forwarded to every output
	outDone   []bool // outputs that have the control item being emitted
	ctrl      control
	completed bool // Complete returned true
	finished  bool // done items sent: the tasklet is over

	parked atomic.Bool
	wakeCh chan struct{}

	lastEmitted int64

	// Snapshots (nil ex.snap: the job takes none).
	ex        *execution
	aligner   *snapshot.Aligner
	barrier   uint64          // the last barrier forwarded
	pending   *round          // a barrier aligned, state not yet saved and forwarded
	saved     bool            // pending's state is saved; the barrier is being forwarded
	saving    *SnapshotWriter // the state being saved
	committed uint64          // the last snapshot committed (two-phase commit)
	// applied is committed, for the execution to see which commits the
	// processor has made (a terminal snapshot waits for them).
	applied atomic.Uint64
	// stopped: the tasklet forwarded a terminal barrier. It processes
	// nothing more and emits nothing but the barriers of later rounds (a
	// terminal snapshot retried); it still commits.
	stopped bool

	// prioritized: some inputs wait for others of a lower priority value
	// (a hash join's build sides) that are not complete yet. The execution
	// counts such tasklets; snapshots wait until there are none.
	prioritized bool

	itemsIn   atomic.Int64
	batchesIn atomic.Int64
	// wmPublished is the last watermark coalesced from the inputs, or
	// emitted by a source, for metrics (LocalStats).
	wmPublished atomic.Int64
	db          debloater // sizes the input queues (see debloat.go)

	// over is set once run returned with the processor finished: from then
	// on the rounds that begin are saved by saveFinished, off the tasklet's
	// goroutine, which is gone.
	over       atomic.Bool
	finishedMu sync.Mutex    // serialises saveFinished's saves
	finalSaved atomic.Uint64 // the last round saveFinished took on
}

func newTasklet(p Processor, ctx *Context, name string) *tasklet {
	t := &tasklet{p: p, ctx: ctx, name: name, wakeCh: make(chan struct{}, 1), wmSeen: MinWatermark}
	t.wmPublished.Store(MinWatermark)
	ctx.t = t
	return t
}

// wake wakes the tasklet if it is parked. It is called by the other end of
// a queue after every push or pop, so it must be cheap when not parked.
func (t *tasklet) wake() {
	if t.parked.Load() && t.parked.CompareAndSwap(true, false) {
		select {
		case t.wakeCh <- struct{}{}:
		default:
		}
	}
}

// wakeAlways leaves a wake-up even if the tasklet is not parked yet.
func (t *tasklet) wakeAlways() {
	t.parked.Store(false)
	select {
	case t.wakeCh <- struct{}{}:
	default:
	}
}

const (
	minIdle = 20 * time.Microsecond
	maxIdle = 5 * time.Millisecond
	// stepBudget bounds the elements handled between checks for
	// cancellation.
	stepBudget = 64
)

// run drives the processor until it finishes, fails or ctx ends.
func (t *tasklet) run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("processor %s panicked: %v\n%s", t.name, r, debug.Stack())
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	idle := minIdle
	retried := false
	for !t.finished {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		began := time.Now()
		progress, err := t.step()
		if err != nil {
			return fmt.Errorf("processor %s: %w", t.name, err)
		}
		if progress {
			t.debloat(time.Since(began))
			idle, retried = minIdle, false
			continue
		}
		// Park. The flag goes up before the last look at the queues, so a
		// push or pop racing with parking either is seen here or wakes us.
		// One immediate retry only: a tasklet whose input is full but whose
		// output is blocked would otherwise spin.
		t.parked.Store(true)
		if !retried && t.hasWork() {
			t.parked.Store(false)
			retried = true
			continue
		}
		retried = false
		timer.Reset(idle)
		select {
		case <-t.wakeCh:
			idle = minIdle
		case <-timer.C:
			idle = min(2*idle, maxIdle)
		case <-ctx.Done():
		}
		t.parked.Store(false)
	}
	if t.ex != nil && t.ex.snap != nil {
		t.over.Store(true)
		if r := t.ex.snap.current.Load(); r != nil {
			t.ex.saveFinished(t, *r)
		}
	}
	return nil
}

// hasWork reports whether something may have changed since the last step:
// called after setting parked, so a push or pop racing with parking is seen.
func (t *tasklet) hasWork() bool {
	for _, in := range t.ins {
		for _, q := range in.queues {
			if !q.empty() {
				return true
			}
		}
	}
	return false
}

// step does one round of work and reports whether anything moved.
func (t *tasklet) step() (bool, error) {
	progress := false
	// Output first: a processor cannot emit while its queues are full.
	for _, o := range t.outs {
		if !o.flush() {
			return false, nil
		}
	}
	if t.ctrl != nil {
		if !t.emitControlAll(t.ctrl) {
			return false, nil
		}
		t.ctrl = nil
		progress = true
	}
	if t.ex != nil && t.ex.snap != nil {
		moved, blocked, err := t.snapshotStep()
		if err != nil || blocked {
			return moved, err
		}
		progress = progress || moved
	}
	if t.stopped {
		moved, err := t.processInput() // barriers only: nothing else follows a terminal barrier
		return progress || moved, err
	}
	if tp, ok := t.p.(TryProcessor); ok {
		moved, err := tp.TryProcess()
		if err != nil {
			return false, err
		}
		progress = progress || moved
	}
	if t.wmPending || t.wmForward {
		moved, err := t.advanceWatermark()
		if err != nil || !moved {
			return progress, err
		}
		progress = true
	}
	for range stepBudget {
		moved, err := t.processInput()
		if err != nil {
			return false, err
		}
		if !moved {
			break
		}
		progress = true
		if t.wmPending || t.ctrl != nil || t.pending != nil {
			break
		}
	}
	if t.pending != nil && len(t.ins) > 0 {
		// Aligned: no input until the state is saved and the barrier
		// forwarded. A source with a round pending goes on to Complete:
		// it must emit what it read before it can save its positions.
		return progress, nil
	}
	if !t.inputsComplete() || t.inbox.b != nil {
		return progress, nil
	}
	if !t.completed {
		done, err := t.p.Complete()
		if err != nil {
			return false, err
		}
		if !done {
			return progress || t.emittedSinceLastCheck(), nil
		}
		t.completed = true
		progress = true
	}
	if !t.emitControlAll(doneItem{}) {
		return progress, nil
	}
	t.finished = true
	return true, nil
}

// holder is a processor that can keep output it could not emit yet (a
// flat map's remaining results): drain emits it and reports whether none
// is left.
type holder interface{ drain() bool }

func (t *tasklet) drained() bool {
	h, ok := t.p.(holder)
	return !ok || h.drain()
}

// emittedSinceLastCheck lets a source that emitted without reporting it
// count as progress.
func (t *tasklet) emittedSinceLastCheck() bool {
	var total int64
	for _, o := range t.outs {
		total += o.offeredItems()
	}
	moved := total != t.lastEmitted
	t.lastEmitted = total
	return moved
}

func (t *tasklet) inputsComplete() bool {
	for _, in := range t.ins {
		if !in.complete {
			return false
		}
	}
	return true
}

// waitsOnPriority reports whether an input with a lower priority value
// than another is not complete yet.
func (t *tasklet) waitsOnPriority() bool {
	last := 0
	for _, in := range t.ins {
		last = max(last, in.priority)
	}
	for _, in := range t.ins {
		if !in.complete && in.priority < last {
			return true
		}
	}
	return false
}

// edgeCompleted notes that an input completed: the tasklet may have read
// its last higher-priority input.
func (t *tasklet) edgeCompleted() {
	if t.prioritized && !t.waitsOnPriority() {
		t.prioritized = false
		t.ex.prioritized.Add(-1)
	}
}

// activePriority is the lowest priority among edges not complete.
func (t *tasklet) activePriority() int {
	p, found := 0, false
	for _, in := range t.ins {
		if !in.complete && (!found || in.priority < p) {
			p, found = in.priority, true
		}
	}
	return p
}

// processInput feeds the processor from the current inbox or the next
// queued element.
func (t *tasklet) processInput() (bool, error) {
	if t.inbox.b != nil {
		return t.feed()
	}
	prio := t.activePriority()
	for _, in := range t.ins {
		if in.complete || in.priority != prio {
			continue
		}
		if in.open == 0 {
			// Every producer finished: complete the edge.
			done := true
			if ec, ok := t.p.(EdgeCompleter); ok {
				var err error
				if done, err = ec.CompleteEdge(in.ordinal); err != nil {
					return false, err
				}
			}
			if done {
				in.complete = true
				t.edgeCompleted()
				return true, nil
			}
			return false, nil
		}
		for k := range in.queues {
			qi := (in.next + k) % len(in.queues)
			q := in.queues[qi]
			if t.aligner != nil && t.aligner.Blocked(in.base+qi) {
				continue // exactly-once: this input delivered the barrier, the others not yet
			}
			e, ok := q.peek()
			if !ok {
				continue
			}
			in.next = (qi + 1) % len(in.queues)
			if _, ctl := e.(control); ctl && !t.drained() {
				// Output the processor holds back comes before a
				// watermark, barrier or end of stream that follows the
				// input it came from.
				return false, nil
			}
			switch c := e.(type) {
			case watermarkItem:
				q.pop(0)
				in.wm[qi] = c.ts
				t.coalesceWatermarks()
				return true, nil
			case barrierItem:
				q.pop(0)
				if t.aligner == nil {
					return true, nil // no snapshots in this execution: a stale barrier
				}
				t.ex.noteRound(c)
				d, err := t.aligner.Barrier(in.base+qi, c.id)
				if err != nil {
					return false, err
				}
				t.aligned(d)
				return true, nil
			case doneItem:
				q.pop(0)
				in.done[qi] = true
				in.open--
				t.coalesceWatermarks()
				if t.aligner != nil {
					t.aligned(t.aligner.Done(in.base + qi))
				}
				return true, nil
			default:
				if t.stopped {
					return false, nil // past a terminal barrier: never processed
				}
				n := in.et.batchLen(e)
				t.inbox.set(e, n)
				t.inEdge, t.inQ = in, qi
				t.batchesIn.Add(1)
				return t.feed()
			}
		}
	}
	return false, nil
}

// feed calls Process with the current inbox; a fully consumed batch leaves
// its queue.
func (t *tasklet) feed() (bool, error) {
	before := t.inbox.Len()
	if err := t.p.Process(t.inEdge.ordinal, &t.inbox); err != nil {
		return false, err
	}
	consumed := before - t.inbox.Len()
	t.itemsIn.Add(int64(consumed))
	if t.inbox.Len() > 0 {
		return consumed > 0, nil
	}
	q := t.inEdge.queues[t.inQ]
	q.pop(t.inbox.n)
	t.inEdge.et.recycle(t.inbox.b)
	t.inbox.clear()
	return true, nil
}

// coalesceWatermarks computes the minimum watermark over every producer
// still running, idle producers excepted, and schedules it if it advanced,
// or if every producer went idle (forwarded as Idle), or if the inputs
// became active again after being idle.
func (t *tasklet) coalesceWatermarks() {
	wm, running := Idle, false
	for _, in := range t.ins {
		for i, w := range in.wm {
			if in.done[i] {
				continue
			}
			running = true
			if w < wm {
				wm = w
			}
		}
	}
	switch {
	case !running || wm == MinWatermark:
		return
	case wm == Idle:
		if t.idleSent {
			return
		}
		t.idleSent = true
		t.wmNext, t.wmForward = Idle, true
	case wm > t.wmSeen || t.idleSent:
		t.idleSent = false
		t.wmNext = max(wm, t.wmSeen)
		t.wmSeen = t.wmNext
		t.wmPublished.Store(t.wmSeen)
		t.wmPending, t.wmForward = true, true
	}
}

func (t *tasklet) advanceWatermark() (bool, error) {
	if t.wmPending {
		if wh, ok := t.p.(WatermarkHandler); ok {
			done, err := wh.ProcessWatermark(t.wmNext)
			if err != nil || !done {
				return false, err
			}
		}
		t.wmPending = false
	}
	if !t.emitControlAll(watermarkItem{ts: t.wmNext}) {
		return false, nil
	}
	t.wmForward = false
	return true, nil
}

// emitControlAll delivers a control item on every output; false means some
// output is full: call again with the same item to resume.
func (t *tasklet) emitControlAll(c control) bool {
	if t.outDone == nil {
		t.outDone = make([]bool, len(t.outs))
	}
	all := true
	for i, o := range t.outs {
		if t.outDone[i] {
			continue
		}
		if o.emitControl(c) {
			t.outDone[i] = true
		} else {
			all = false
		}
	}
	if all {
		clear(t.outDone)
	}
	return all
}

// aligned schedules the state save and the barrier forward when the
// aligner says every input delivered a barrier.
func (t *tasklet) aligned(d snapshot.Decision) {
	if !d.Complete {
		return
	}
	r, ok := t.ex.roundOf(d.ID)
	if !ok {
		return // a barrier of a round this execution never saw begin: skip it
	}
	t.pending = &r
}

// snapshotStep does the snapshot work due: commit a completed snapshot,
// start a round at a source, save state and forward an aligned barrier.
// blocked means the processor must not process input yet.
func (t *tasklet) snapshotStep() (moved, blocked bool, err error) {
	snap := t.ex.snap
	if c := snap.commit.Load(); c > t.committed {
		t.committed = c
		if cm, ok := t.p.(Committer); ok {
			if err := cm.CommitSnapshot(c); err != nil {
				return false, true, fmt.Errorf("commit snapshot %d: %w", c, err)
			}
		}
		t.applied.Store(c)
		t.ex.commitsApplied.Broadcast()
		moved = true
	}
	if len(t.ins) == 0 && t.pending == nil {
		if r := snap.current.Load(); r != nil && r.id > t.barrier {
			t.pending = r
		}
	}
	if t.pending == nil {
		return moved, false, nil
	}
	if !t.saved {
		done, err := t.saveState(t.ex, *t.pending)
		if err != nil {
			return moved, true, err
		}
		if !done {
			// A source saves once it has emitted what it read: let it
			// go on emitting.
			return moved, len(t.ins) > 0, nil
		}
		t.saved = true
	}
	if !t.emitControlAll(barrierItem(*t.pending)) {
		return true, true, nil
	}
	t.barrier = t.pending.id
	t.stopped = t.stopped || t.pending.terminal
	t.pending, t.saved = nil, false
	return true, false, nil
}
