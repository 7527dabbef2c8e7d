package dag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/snapshot"
)

// Messages on a distributed edge's stream: a kind byte, the producer's
// global index and the destination instance as varints, then the payload.
const (
	msgBatch     byte = 1 // payload: the encoded items
	msgWatermark byte = 2 // payload: the watermark as a varint
	msgDone      byte = 3 // the producer finished
	msgBarrier   byte = 4 // payload: the snapshot id and slot as varints, then 1 if terminal; stands for every producer of the sending member
)

const routeEdge = "job.edge"

// edgeHello opens the stream of one distributed edge from one member.
type edgeHello struct {
	JobID     string `msgpack:"j"`
	Execution uint64 `msgpack:"e"`
	Edge      int    `msgpack:"d"`
	From      int    `msgpack:"f"`
}

// sender carries one distributed edge's items from this member's producers
// to one other member: it reads one queue per producer, encodes batches
// with the edge's codec and writes them to a stream whose flow control, in
// bytes, bounds what is in flight.
type sender struct {
	ex     *execution
	ei     int
	e      *edge
	to     int
	inputs []*queue
	prods  []int // global index of each input's producer
	// aligner aligns the barriers of the local producers, so the stream
	// carries one barrier for all of them (nil: no snapshots).
	aligner *snapshot.Aligner
	parked  atomic.Bool
	wakeCh  chan struct{}
	bytes   atomic.Int64
	batches atomic.Int64
}

func newSender(ex *execution, ei int, e *edge, to int) *sender {
	return &sender{ex: ex, ei: ei, e: e, to: to, wakeCh: make(chan struct{}, 1)}
}

// addInput adds the queue from a local producer.
func (s *sender) addInput(prod *tasklet) *queue {
	q := newQueue(s.e.queueSize)
	q.producer, q.consumer = prod, s
	s.inputs = append(s.inputs, q)
	s.prods = append(s.prods, prod.ctx.GlobalIndex)
	return q
}

func (s *sender) wake() {
	if s.parked.Load() && s.parked.CompareAndSwap(true, false) {
		select {
		case s.wakeCh <- struct{}{}:
		default:
		}
	}
}

func (s *sender) run(ctx context.Context) error {
	p := s.ex.plan
	hello, err := wire.Marshal(&edgeHello{JobID: p.JobID, Execution: p.Execution, Edge: s.ei, From: s.ex.me})
	if err != nil {
		return err
	}
	peer := p.Members[s.to]
	st, err := s.ex.m.OpenStream(ctx, peer, routeEdge, hello)
	if err != nil {
		return fmt.Errorf("edge %s -> %s to member %s: %w", s.e.from.name, s.e.to.name, peer, err)
	}
	defer closeStream(st, ctx)
	open := len(s.inputs)
	done := make([]bool, len(s.inputs))
	if s.ex.snap != nil {
		s.aligner = snapshot.NewAligner(len(s.inputs), s.ex.snap.mode)
	}
	var buf []byte
	idle := minIdle
	// barrier sends a barrier message once the local producers' barriers
	// are aligned.
	barrier := func(d snapshot.Decision) error {
		if !d.Complete {
			return nil
		}
		r, _ := s.ex.roundOf(d.ID)
		b := appendHeader(nil, msgBarrier, 0, destAll)
		b = binary.AppendUvarint(b, d.ID)
		b = binary.AppendUvarint(b, uint64(r.slot))
		if r.terminal {
			b = append(b, 1)
		}
		return st.Send(ctx, b)
	}
	for open > 0 {
		moved := false
		for i, q := range s.inputs {
			if done[i] || s.aligner != nil && s.aligner.Blocked(i) {
				continue
			}
			el, ok := q.peek()
			if !ok {
				continue
			}
			moved = true
			buf = buf[:0]
			switch c := el.(type) {
			case barrierItem:
				q.pop(0)
				if s.aligner == nil {
					continue
				}
				s.ex.noteRound(c)
				d, err := s.aligner.Barrier(i, c.id)
				if err != nil {
					return err
				}
				if err := barrier(d); err != nil {
					return err
				}
				continue
			case watermarkItem:
				buf = appendHeader(buf, msgWatermark, s.prods[i], destAll)
				buf = binary.AppendVarint(buf, c.ts)
				q.pop(0)
			case doneItem:
				buf = appendHeader(buf, msgDone, s.prods[i], destAll)
				q.pop(0)
				done[i] = true
				open--
				if s.aligner != nil {
					if err := barrier(s.aligner.Done(i)); err != nil {
						return err
					}
				}
			default:
				n := s.e.item.batchLen(el)
				buf = appendHeader(buf, msgBatch, s.prods[i], s.destOf(el))
				if buf, err = s.e.item.encode(buf, el); err != nil {
					return fmt.Errorf("edge %s -> %s: %w", s.e.from.name, s.e.to.name, err)
				}
				q.pop(n)
				s.e.item.recycle(el)
				s.batches.Add(1)
			}
			s.bytes.Add(int64(len(buf)))
			// Send copies buf into the connection's buffer before returning.
			if err := st.Send(ctx, buf); err != nil {
				return fmt.Errorf("edge %s -> %s to member %s: %w", s.e.from.name, s.e.to.name, peer, peerStopped(err))
			}
		}
		if moved {
			idle = minIdle
			continue
		}
		waiting := func(i int) bool { return !done[i] && (s.aligner == nil || !s.aligner.Blocked(i)) }
		if err := s.park(ctx, &idle, waiting); err != nil {
			return err
		}
	}
	return nil
}

func (s *sender) destOf(el any) int {
	switch s.e.routing {
	case Broadcast:
		return destAll
	case Partitioned:
		return batchDest(el)
	case AllToOne:
		return 0
	}
	return destAny
}

// park waits for a wake-up or the idle timeout, unless an input it would
// read has something: inputs held back by barrier alignment do not count
// (their items wait for the other inputs' barriers; spinning on them kept
// a CPU busy for nothing, starving the processors that would deliver those
// barriers).
func (s *sender) park(ctx context.Context, idle *time.Duration, readable func(i int) bool) error {
	s.parked.Store(true)
	for i, q := range s.inputs {
		if readable(i) && !q.empty() {
			s.parked.Store(false)
			return nil
		}
	}
	t := time.NewTimer(*idle)
	defer t.Stop()
	select {
	case <-s.wakeCh:
		*idle = minIdle
	case <-t.C:
		*idle = min(2**idle, maxIdle)
	case <-ctx.Done():
		return ctx.Err()
	}
	s.parked.Store(false)
	return nil
}

func appendHeader(b []byte, kind byte, producer, dest int) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(producer))
	return binary.AppendVarint(b, int64(dest))
}

// receiver delivers one distributed edge's items from one other member to
// this member's consumer instances. It stands for all the producers on that
// member: it forwards a watermark when their minimum advances, and the end
// of the stream when all have finished.
type receiver struct {
	ex       *execution
	ei       int
	e        *edge
	from     int
	outs     []*queue // one per local consumer
	stream   chan *member.Stream
	wm       map[int]int64 // per remote producer
	done     map[int]bool
	prods    int
	parked   atomic.Bool
	wakeCh   chan struct{}
	next     int
	wmSent   int64
	idle     bool
	finished chan struct{} // closed when run returns: the stream may close
	// keepIn is set on an edge that reuses memory for items that share it:
	// each batch keeps its message, and gives it back to keepIn once
	// consumed.
	keepIn *member.Stream
}

func newReceiver(ex *execution, ei int, e *edge, from, producers int) *receiver {
	return &receiver{ex: ex, ei: ei, e: e, from: from, prods: producers, stream: make(chan *member.Stream, 1),
		wm: map[int]int64{}, done: map[int]bool{}, wakeCh: make(chan struct{}, 1), wmSent: MinWatermark,
		finished: make(chan struct{})}
}

func (r *receiver) wake() {
	if r.parked.Load() && r.parked.CompareAndSwap(true, false) {
		select {
		case r.wakeCh <- struct{}{}:
		default:
		}
	}
}

func (r *receiver) run(ctx context.Context) error {
	defer close(r.finished)
	var st *member.Stream
	select {
	case st = <-r.stream:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer closeStream(st, ctx)
	// Items that cannot share a message's memory leave nothing pointing at
	// it once decoded: the message goes back to the connection for the next
	// one, and a busy edge allocates nothing. On an edge that reuses memory,
	// a batch's message goes back once the consumer is done with the batch.
	recycle := !r.e.item.aliases() || r.e.reuse
	if recycle {
		st.RecycleMessages()
	}
	if r.e.reuse && r.e.item.aliases() {
		r.keepIn = st
	}
	for len(r.done) < r.prods {
		msg, err := st.Recv(ctx)
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("edge %s -> %s: member %s closed the stream early: %w", r.e.from.name, r.e.to.name, st.Peer(), errClusterChanged)
		}
		if err != nil {
			return fmt.Errorf("edge %s -> %s from member %s: %w", r.e.from.name, r.e.to.name, st.Peer(), err)
		}
		kept := r.keepIn != nil && len(msg) > 0 && msg[0] == msgBatch
		if err := r.handle(ctx, msg); err != nil {
			return fmt.Errorf("edge %s -> %s from member %s: %w", r.e.from.name, r.e.to.name, st.Peer(), err)
		}
		if recycle && !kept {
			st.Recycle(msg)
		}
	}
	return r.pushAll(ctx, doneItem{})
}

func (r *receiver) handle(ctx context.Context, msg []byte) error {
	if len(msg) == 0 {
		return errors.New("empty message")
	}
	kind := msg[0]
	prod, n := binary.Uvarint(msg[1:])
	if n <= 0 {
		return errors.New("bad message header")
	}
	dest, m := binary.Varint(msg[1+n:])
	if m <= 0 {
		return errors.New("bad message header")
	}
	payload := msg[1+n+m:]
	producer := int(prod)
	switch kind {
	case msgBatch:
		if dest >= int64(len(r.outs)) || dest < destAll {
			return fmt.Errorf("batch for instance %d of %d", dest, len(r.outs))
		}
		b, err := r.e.item.decode(payload, int(dest))
		if err != nil {
			return err
		}
		if r.keepIn != nil {
			r.e.item.keepMessage(b, msg, r.keepIn)
		}
		items := r.e.item.batchLen(b)
		switch dest {
		case destAll:
			markShared(b)
			for _, q := range r.outs {
				if err := r.push(ctx, q, b, items); err != nil {
					return err
				}
			}
			return nil
		case destAny:
			// Any consumer may take it: the first with room, from the next in
			// turn, so that one slow consumer does not hold up the others.
			i, err := r.pushAny(ctx, r.outs, r.next, b, items)
			r.next = i + 1
			return err
		default:
			return r.push(ctx, r.outs[dest], b, items)
		}
	case msgWatermark:
		ts, k := binary.Varint(payload)
		if k <= 0 {
			return errors.New("bad watermark")
		}
		r.wm[producer] = ts
		return r.forwardWatermark(ctx)
	case msgDone:
		r.done[producer] = true
		delete(r.wm, producer)
		return r.forwardWatermark(ctx)
	case msgBarrier:
		id, k := binary.Uvarint(payload)
		if k <= 0 {
			return errors.New("bad barrier")
		}
		slot, n := binary.Uvarint(payload[k:])
		if n <= 0 || slot > 1 {
			return errors.New("bad barrier slot")
		}
		flags := payload[k+n:]
		if len(flags) > 1 || len(flags) == 1 && flags[0] > 1 {
			return errors.New("bad barrier flags")
		}
		b := barrierItem{id: id, slot: int(slot), terminal: len(flags) == 1 && flags[0] == 1}
		r.ex.noteRound(b)
		return r.pushAll(ctx, b)
	}
	return fmt.Errorf("unknown message kind %d", kind)
}

// forwardWatermark sends the minimum watermark of the remote producers
// still running when it advanced (Idle when all are idle).
func (r *receiver) forwardWatermark(ctx context.Context) error {
	if len(r.wm)+len(r.done) < r.prods {
		return nil // some producer has sent no watermark yet
	}
	wm := Idle
	for p, w := range r.wm {
		if !r.done[p] && w < wm {
			wm = w
		}
	}
	if len(r.wm) == 0 {
		return nil
	}
	switch {
	case wm == Idle && !r.idle:
		r.idle = true
	case wm != Idle && (wm > r.wmSent || r.idle):
		r.idle = false
		r.wmSent = max(wm, r.wmSent)
		wm = r.wmSent
	default:
		return nil
	}
	return r.pushAll(ctx, watermarkItem{ts: wm})
}

func (r *receiver) pushAll(ctx context.Context, c control) error {
	for _, q := range r.outs {
		if err := r.push(ctx, q, c, 0); err != nil {
			return err
		}
	}
	return nil
}

// push waits for room in q: the consumer's pops wake the receiver.
func (r *receiver) push(ctx context.Context, q *queue, el any, items int) error {
	_, err := r.pushAny(ctx, []*queue{q}, 0, el, items)
	return err
}

// pushAny gives el to the first of qs with room, trying them in turn from
// qs[from % len(qs)], waiting while all are full, and returns the index of
// the queue that took it.
func (r *receiver) pushAny(ctx context.Context, qs []*queue, from int, el any, items int) (int, error) {
	idle := minIdle
	for {
		for k := range qs {
			if i := (from + k) % len(qs); qs[i].offer(el, items) {
				return i, nil
			}
		}
		r.parked.Store(true)
		if !allFull(qs) {
			r.parked.Store(false)
			continue
		}
		t := time.NewTimer(idle)
		select {
		case <-r.wakeCh:
		case <-t.C:
			idle = min(2*idle, maxIdle)
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
		t.Stop()
		r.parked.Store(false)
	}
}

func allFull(qs []*queue) bool {
	for _, q := range qs {
		if !q.full() {
			return false
		}
	}
	return true
}

// peerStopped classifies a failed send: a stream the receiving member
// closed without a reason, before this side finished, means its execution
// stopped there (a member that stops for an error of its own closes the
// stream with it, and reports it to the coordinator itself): a change of
// the cluster from this side, after which the job restarts. Seen when a
// healing network partition briefly drops members from each other's
// views: the job failed with "stream closed".
func peerStopped(err error) error {
	if errors.Is(err, member.ErrStreamClosed) {
		return fmt.Errorf("%w: %w", errClusterChanged, err)
	}
	return err
}

// closeStream ends a stream, passing on why the execution stopped, so the
// member at the other end reports the root cause rather than a broken
// stream.
func closeStream(st *member.Stream, ctx context.Context) {
	if cause := context.Cause(ctx); cause != nil {
		_ = st.CloseWithError(cause)
		return
	}
	_ = st.Close()
}
