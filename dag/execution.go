package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/run"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// execution is one run of a job on one member: its tasklets, and the
// senders and receivers of its distributed edges.
type execution struct {
	svc       *service
	m         *member.Host
	plan      *plan
	d         *DAG
	me        int // this member's index in the plan
	log       *slog.Logger
	tasklets  []*tasklet
	senders   []*sender
	receivers map[recvKey]*receiver

	ctx     context.Context
	cancel  context.CancelCauseFunc
	started atomic.Bool
	snap    *snapshots // nil: the job takes no snapshots
	rounds  sync.Map   // snapshot id -> round, for the rounds begun
	wg      sync.WaitGroup
	// saves tracks saveFinished's saves, which closeProcessors waits for;
	// savesClosed refuses new ones from then on.
	savesMu     sync.Mutex
	saves       sync.WaitGroup
	savesClosed bool
	// prioritized counts the tasklets still reading higher-priority
	// inputs (see tasklet.prioritized).
	prioritized atomic.Int32
	// commitsApplied is signalled when a tasklet made a commit (see
	// waitCommitted).
	commitsApplied run.Signal
	mu             sync.Mutex // guards err
	err            error
	done           chan struct{}
}

type recvKey struct {
	edge int // index in d.edges
	from int // sending member index
}

// instances are the tasklets of one vertex on this member.
type instances []*tasklet

// newExecution builds the job's tasklets and queues on this member and
// initialises the processors. Nothing runs until start.
func newExecution(svc *service, p *plan, d *DAG, parent context.Context) (*execution, error) {
	m := svc.m
	me := p.memberIndex(m.ID())
	if me < 0 {
		return nil, fmt.Errorf("member %s is not in the plan of job %s", m.ID(), p.JobID)
	}
	ex := &execution{svc: svc, m: m, plan: p, d: d, me: me, receivers: map[recvKey]*receiver{}, done: make(chan struct{})}
	if p.Config.Guarantee != None {
		ex.snap = &snapshots{mode: snapshot.ExactlyOnce, store: snapshot.OpenStore(m, p.JobID)}
		if p.Config.Guarantee == AtLeastOnce {
			ex.snap.mode = snapshot.AtLeastOnce
		}
	}
	ex.log = m.Logger().With("job", p.JobID, "name", p.Name)
	ex.ctx, ex.cancel = context.WithCancelCause(parent)
	members := len(p.Members)

	byVertex := map[*Vertex]instances{}
	for _, v := range d.vertices {
		par := p.parallelism(v)
		ts := make(instances, par)
		for li := range par {
			proc := v.supplier()
			if proc == nil {
				return nil, fmt.Errorf("vertex %q: supplier returned nil", v.name)
			}
			gi := me*par + li
			ctx := &Context{
				host: m, JobID: p.JobID, JobName: p.Name, Vertex: v.name,
				LocalIndex: li, GlobalIndex: gi, LocalParallelism: par, TotalParallelism: par * members,
				MemberIndex: me, MemberCount: members, Execution: p.Execution, Guarantee: p.Config.Guarantee,
				Logger:     ex.log.With("vertex", v.name, "instance", gi),
				ctx:        ex.ctx,
				partitions: p.partitionsOf(me, li, par),
			}
			ts[li] = newTasklet(proc, ctx, fmt.Sprintf("%s#%d", v.name, gi))
			ts[li].ex = ex
		}
		byVertex[v] = ts
		ex.tasklets = append(ex.tasklets, ts...)
	}
	for ei, e := range d.edges {
		if err := ex.connect(ei, e, byVertex[e.from], byVertex[e.to]); err != nil {
			return nil, err
		}
	}
	for _, t := range ex.tasklets {
		queues := 0
		for i := range t.ins {
			in := t.ins[i]
			in.wm = make([]int64, len(in.queues))
			for j := range in.wm {
				in.wm[j] = MinWatermark
			}
			in.done = make([]bool, len(in.queues))
			in.open = len(in.queues)
			in.base = queues
			queues += len(in.queues)
		}
		if ex.snap != nil && queues > 0 {
			t.aligner = snapshot.NewAligner(queues, ex.snap.mode)
		}
		if t.waitsOnPriority() {
			t.prioritized = true
			ex.prioritized.Add(1)
		}
		if err := t.p.Init(t.ctx); err != nil {
			ex.closeProcessors()
			return nil, fmt.Errorf("init %s: %w", t.name, err)
		}
	}
	return ex, nil
}

// connect creates the queues of one edge on this member and the producers'
// routes into them.
func (ex *execution) connect(ei int, e *edge, producers, consumers instances) error {
	p := ex.plan
	members := len(p.Members)
	consPar := len(consumers)
	// inputs[c] is consumer c's input edge; queues are added per producer.
	inputs := make([]*inputEdge, consPar)
	for c, t := range consumers {
		inputs[c] = &inputEdge{ordinal: e.toOrd, priority: e.priority, batchSize: e.batchSize, et: e.item}
		setAt(&t.ins, e.toOrd, inputs[c])
	}
	newLocalQueue := func(prod *tasklet, c int) *queue {
		q := newInputQueue(e)
		q.producer, q.consumer = prod, consumers[c]
		inputs[c].queues = append(inputs[c].queues, q)
		return q
	}
	// Senders for the remote members, one per member, each with a queue
	// per local producer.
	var senders map[int]*sender
	if e.distributed && members > 1 {
		senders = map[int]*sender{}
		for mi := range members {
			if mi == ex.me {
				continue
			}
			s := newSender(ex, ei, e, mi)
			senders[mi] = s
			ex.senders = append(ex.senders, s)
			r := newReceiver(ex, ei, e, mi, len(producers))
			for c := range consumers {
				q := newInputQueue(e)
				q.producer, q.consumer = r, consumers[c]
				inputs[c].queues = append(inputs[c].queues, q)
				r.outs = append(r.outs, q)
			}
			ex.receivers[recvKey{edge: ei, from: mi}] = r
		}
	}
	for pi, prod := range producers {
		r := &route{edge: e, partitions: len(p.Owners), start: pi}
		remote := map[int]*queue{}
		remoteQueue := func(mi int) *queue {
			if q, ok := remote[mi]; ok {
				return q
			}
			q := senders[mi].addInput(prod)
			remote[mi] = q
			return q
		}
		switch {
		case e.routing == Isolated:
			r.targets = []target{{q: newLocalQueue(prod, pi%consPar)}}
		case e.routing == Broadcast:
			r.broadcast = true
			for c := range consumers {
				r.targets = append(r.targets, target{q: newLocalQueue(prod, c)})
			}
			for _, mi := range slices.Sorted(maps.Keys(senders)) {
				r.targets = append(r.targets, target{q: remoteQueue(mi), dest: destAll})
			}
		case e.routing == AllToOne:
			// One data target, instance 0 of member 0; the other queues
			// only carry control items, so their consumers can complete.
			owner := 0
			if !e.distributed || members == 1 {
				owner = ex.me
			}
			var data target
			for c := range consumers {
				q := newLocalQueue(prod, c)
				if owner == ex.me && c == 0 {
					data = target{q: q}
				} else {
					r.ctrlOnly = append(r.ctrlOnly, target{q: q})
				}
			}
			for _, mi := range slices.Sorted(maps.Keys(senders)) {
				if mi == owner {
					data = target{q: remoteQueue(mi), dest: 0}
				} else {
					r.ctrlOnly = append(r.ctrlOnly, target{q: remoteQueue(mi), dest: destAny})
				}
			}
			r.targets = []target{data}
		case e.routing == Unicast:
			for c := range consumers {
				r.targets = append(r.targets, target{q: newLocalQueue(prod, c)})
			}
			for _, mi := range slices.Sorted(maps.Keys(senders)) {
				r.targets = append(r.targets, target{q: remoteQueue(mi), dest: destAny})
			}
		default: // Partitioned
			local := make([]*queue, consPar)
			for c := range consumers {
				local[c] = newLocalQueue(prod, c)
				r.targets = append(r.targets, target{q: local[c]})
			}
			idx := map[[2]int]int{} // (member, dest) -> target index
			r.partTarget = make([]int, len(p.Owners))
			for part := range p.Owners {
				owner, dest := p.Owners[part], part%consPar
				if !e.distributed || members == 1 {
					owner = ex.me
				}
				if owner == ex.me {
					r.partTarget[part] = dest
					continue
				}
				k := [2]int{owner, dest}
				ti, ok := idx[k]
				if !ok {
					ti = len(r.targets)
					r.targets = append(r.targets, target{q: remoteQueue(owner), dest: dest})
					idx[k] = ti
				}
				r.partTarget[part] = ti
			}
			// Every sender hears from every producer, if only its end and
			// its watermarks.
			for _, mi := range slices.Sorted(maps.Keys(senders)) {
				if _, ok := remote[mi]; !ok {
					r.targets = append(r.targets, target{q: remoteQueue(mi), dest: destAny})
				}
			}
		}
		setOutput(prod, e, e.item.newOutput(r))
	}
	return nil
}

// Destinations of remote batches that do not name one instance.
const (
	destAny = -1 // any instance on the receiving member
	destAll = -2 // every instance on the receiving member
)

func setAt[T any](list *[]T, i int, v T) {
	for len(*list) <= i {
		var zero T
		*list = append(*list, zero)
	}
	(*list)[i] = v
}

func setOutput(t *tasklet, e *edge, o output) {
	setAt(&t.outs, e.fromOrd, o)
	setAt(&t.ctx.outputs, e.fromOrd, o)
	setAt(&t.ctx.outputTypes, e.fromOrd, e.item.name())
}

// start runs every tasklet, sender and receiver. onDone is called once when
// they have all finished, with the first error. It reports false, and does
// nothing, if the execution was started already: a second start must not
// run its tasklets, senders and receivers again.
func (ex *execution) start(onDone func(error)) bool {
	if !ex.started.CompareAndSwap(false, true) {
		ex.m.Logger().Warn("job execution already started: refusing a second start", "job", ex.plan.JobID, "execution", ex.plan.Execution)
		return false
	}
	run := func(fn func(context.Context) error) {
		ex.wg.Add(1)
		if !ex.m.Go(func(context.Context) {
			defer ex.wg.Done()
			if err := fn(ex.ctx); err != nil {
				ex.fail(err)
			}
		}) {
			ex.wg.Done()
			ex.fail(member.ErrClosed)
		}
	}
	for _, t := range ex.tasklets {
		run(t.run)
	}
	for _, s := range ex.senders {
		run(s.run)
	}
	for _, r := range ex.receivers {
		run(r.run)
	}
	ex.m.Go(func(context.Context) {
		ex.wg.Wait()
		ex.waitFinishedSaves()
		ex.closeProcessors()
		ex.mu.Lock()
		err := ex.err
		ex.mu.Unlock()
		close(ex.done)
		onDone(err)
	})
	return true
}

// fail records the first error and stops the execution.
func (ex *execution) fail(err error) {
	if transient(err) && !errors.Is(err, errClusterChanged) {
		// Say so to the members at the other end of our streams, which
		// would otherwise take our failure for one of their own.
		err = fmt.Errorf("%w: %w", errClusterChanged, err)
	}
	ex.mu.Lock()
	if ex.err == nil && !errors.Is(err, context.Canceled) {
		ex.err = err
	} else if ex.err == nil {
		if cause := context.Cause(ex.ctx); cause != nil {
			ex.err = cause
		} else {
			ex.err = err
		}
	}
	ex.mu.Unlock()
	ex.cancel(err)
}

// abort stops the execution with cause; it is safe to call at any time.
func (ex *execution) abort(cause error) {
	ex.mu.Lock()
	if ex.err == nil {
		ex.err = cause
	}
	ex.mu.Unlock()
	ex.cancel(cause)
}

func (ex *execution) closeProcessors() {
	for _, t := range ex.tasklets {
		if c, ok := t.p.(Closer); ok {
			if err := c.Close(); err != nil {
				ex.log.Warn("closing processor failed", "processor", t.name, "err", err)
			}
		}
	}
}

// roundOf returns a snapshot round this execution began.
func (ex *execution) roundOf(id uint64) (round, bool) {
	r, ok := ex.rounds.Load(id)
	if !ok {
		return round{}, false
	}
	return r.(round), true
}

// beginRound injects the barrier of a snapshot at the sources.
func (ex *execution) beginRound(r round) {
	if ex.snap == nil {
		return
	}
	ex.rounds.Store(r.id, r)
	ex.snap.current.Store(&r)
	for _, t := range ex.tasklets {
		if t.over.Load() {
			ex.saveFinished(t, r)
		} else if len(t.ins) == 0 {
			t.wakeAlways()
		}
	}
}

// commitRound tells the processors a snapshot completed in the cluster.
func (ex *execution) commitRound(id uint64) {
	if ex.snap == nil {
		return
	}
	for {
		cur := ex.snap.commit.Load()
		if id <= cur || ex.snap.commit.CompareAndSwap(cur, id) {
			break
		}
	}
	for _, t := range ex.tasklets {
		t.wakeAlways()
	}
}

// waitCommitted waits until every processor still running has committed
// snapshot id (their two-phase-commit sinks made its output visible), or
// the execution ends. A terminal snapshot's commit waits for this before
// the coordinator stops the execution, which would otherwise stop the
// commit half done.
func (ex *execution) waitCommitted(ctx context.Context, id uint64) error {
	for {
		changed := ex.commitsApplied.Wait()
		all := true
		for _, t := range ex.tasklets {
			if !t.over.Load() && t.applied.Load() < id {
				all = false
				break
			}
		}
		if all {
			return nil
		}
		select {
		case <-changed:
		case <-ex.done:
			return fmt.Errorf("execution %d of job %s ended before it committed snapshot %d", ex.plan.Execution, ex.plan.JobID, id)
		case <-ex.ctx.Done():
			return fmt.Errorf("execution %d of job %s stopped before it committed snapshot %d: %w", ex.plan.Execution, ex.plan.JobID, id, context.Cause(ex.ctx))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
