package grid

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/weir-dev/weir/internal/wire"
	"github.com/weir-dev/weir/member"
)

// Subscription kinds.
const (
	subNear   uint8 = 1 // key invalidations, for near caches
	subEvents uint8 = 2 // full events, for listeners
)

// subscriptions records which members want this member's invalidations and
// events for each map, as owner of some of its partitions.
type subscriptions struct {
	mu    sync.RWMutex // guards byMap
	byMap map[string]map[string]uint8
	// events counts maps with at least one event subscriber, so writes to
	// maps nobody listens to skip building events.
	events atomic.Int64
}

func (ss *subscriptions) init() { ss.byMap = map[string]map[string]uint8{} }

func (ss *subscriptions) add(name, id string, kinds uint8) {
	ss.mu.RLock()
	have := ss.byMap[name][id]
	ss.mu.RUnlock()
	if have&kinds == kinds {
		return
	}
	ss.set(name, id, func(k uint8) uint8 { return k | kinds })
}

func (ss *subscriptions) set(name, id string, f func(uint8) uint8) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	subs := ss.byMap[name]
	before := ss.countEventsLocked(subs)
	if subs == nil {
		subs = map[string]uint8{}
		ss.byMap[name] = subs
	}
	if k := f(subs[id]); k == 0 {
		delete(subs, id)
	} else {
		subs[id] = k
	}
	if after := ss.countEventsLocked(subs); after != before {
		ss.events.Add(int64(after - before))
	}
}

func (ss *subscriptions) countEventsLocked(subs map[string]uint8) int {
	for _, k := range subs {
		if k&subEvents != 0 {
			return 1
		}
	}
	return 0
}

func (ss *subscriptions) removeMember(id string) {
	ss.mu.RLock()
	var names []string
	for name, subs := range ss.byMap {
		if _, ok := subs[id]; ok {
			names = append(names, name)
		}
	}
	ss.mu.RUnlock()
	for _, name := range names {
		ss.set(name, id, func(uint8) uint8 { return 0 })
	}
}

func (ss *subscriptions) wantsEvents(name string) bool {
	if ss.events.Load() == 0 {
		return false
	}
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	return ss.countEventsLocked(ss.byMap[name]) > 0
}

func (ss *subscriptions) targets(name string) map[string]uint8 {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	if len(ss.byMap[name]) == 0 {
		return nil
	}
	return maps.Clone(ss.byMap[name])
}

func (ss *subscriptions) snapshot() map[string]map[string]uint8 {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	out := make(map[string]map[string]uint8, len(ss.byMap))
	for name, subs := range ss.byMap {
		out[name] = maps.Clone(subs)
	}
	return out
}

// publish sends a write's notes to the map's subscribers: invalidations to
// near caches, events to listeners.
func (s *service) publish(name string, notes []eventItem) {
	if len(notes) == 0 {
		return
	}
	targets := s.subs.targets(name)
	if len(targets) == 0 {
		return
	}
	var full, keysOnly []byte
	for id, kinds := range targets {
		msg := eventsMsg{Map: name, Items: notes}
		var payload []byte
		if kinds&subEvents != 0 {
			if full == nil {
				full, _ = wire.Marshal(&msg)
			}
			payload = full
		} else {
			if keysOnly == nil {
				stripped := make([]eventItem, len(notes))
				for i, n := range notes {
					stripped[i] = eventItem{Part: n.Part, Seq: n.Seq, Key: n.Key}
				}
				keysOnly, _ = wire.Marshal(&eventsMsg{Map: name, Items: stripped})
			}
			payload = keysOnly
		}
		if id == s.m.ID() {
			var local eventsMsg
			if wire.Unmarshal(payload, &local) == nil {
				s.local.deliver(&local)
			}
			continue
		}
		_ = s.m.Send(context.Background(), id, routeEvents, payload)
	}
}

func (s *service) handleEvents(_ context.Context, req *member.Request) ([]byte, error) {
	var msg eventsMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	s.local.deliver(&msg)
	return nil, nil
}

func (s *service) handleSubscribe(_ context.Context, req *member.Request) ([]byte, error) {
	var msg subscribeMsg
	if err := wire.Unmarshal(req.Payload, &msg); err != nil {
		return nil, err
	}
	s.subs.set(msg.Map, msg.Member, func(uint8) uint8 { return msg.Kinds })
	return nil, nil
}

// announce tells every member what this member subscribes to for map name.
func (s *service) announce(ctx context.Context, name string, to []member.Info) {
	kinds := s.local.kinds(name)
	b, err := wire.Marshal(&subscribeMsg{Map: name, Kinds: kinds, Member: s.m.ID()})
	if err != nil {
		return
	}
	for _, info := range to {
		if info.ID == s.m.ID() {
			s.subs.set(name, info.ID, func(uint8) uint8 { return kinds })
			continue
		}
		_ = s.m.Send(ctx, info.ID, routeSubscribe, b)
	}
}

// handleHello runs when another member (re)discovers this one: it holds
// none of this member's subscriptions, so whatever it changed since it lost
// sight of this member was never invalidated here. The near caches drop
// what they hold of its partitions, and this member's subscriptions are
// announced to it again (it may never have left this member's view, so
// resubscribe would not). Inline, like events: invalidations sent after
// the hello are applied after the drop.
func (s *service) handleHello(_ context.Context, req *member.Request) ([]byte, error) {
	s.forgetOwner(req.From)
	from := []member.Info{{ID: req.From}}
	s.m.Go(func(ctx context.Context) {
		for _, name := range s.local.names() {
			s.announce(ctx, name, from)
		}
	})
	return nil, nil
}

// forgetOwner drops what the near caches hold of the partitions id owns:
// its invalidations may have been lost.
func (s *service) forgetOwner(id string) {
	if t := s.m.Partitions(); t != nil {
		s.local.ownersChanged(t.Owned(id))
	}
}

// resubscribe keeps subscriptions in step with membership: new members
// learn this member's subscriptions, and are told it holds none of theirs
// (handleHello); departed members' are dropped, and so is what the near
// caches hold of their partitions, since their invalidations can no longer
// arrive.
func (s *service) resubscribe(ctx context.Context) {
	known := map[string]bool{}
	for {
		ms, err := s.m.WaitMembers(ctx, func(ms []member.Info) bool {
			if len(ms) != len(known) {
				return true
			}
			for _, i := range ms {
				if !known[i.ID] {
					return true
				}
			}
			return false
		})
		if err != nil {
			return
		}
		current := map[string]bool{}
		var fresh []member.Info
		for _, i := range ms {
			current[i.ID] = true
			if !known[i.ID] {
				fresh = append(fresh, i)
			}
		}
		for id := range known {
			if !current[id] {
				s.subs.removeMember(id)
				s.forgetOwner(id)
			}
		}
		known = current
		for _, info := range fresh {
			if info.ID != s.m.ID() {
				_ = s.m.Send(ctx, info.ID, routeHello, nil)
			}
		}
		for _, name := range s.local.names() {
			s.announce(ctx, name, fresh)
		}
	}
}

// invalidator is a near cache, as the service sees it.
type invalidator interface {
	invalidate(part int, seq uint64, key []byte)
	ownersChanged(parts []int)
}

// localSubs holds this member's near caches and listeners, by map.
type localSubs struct {
	mu        sync.RWMutex // guards everything below
	near      map[string][]invalidator
	listeners map[string][]*listener
}

func (ls *localSubs) init() {
	ls.near = map[string][]invalidator{}
	ls.listeners = map[string][]*listener{}
}

func (ls *localSubs) kinds(name string) uint8 {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	var k uint8
	if len(ls.near[name]) > 0 {
		k |= subNear
	}
	if len(ls.listeners[name]) > 0 {
		k |= subEvents
	}
	return k
}

func (ls *localSubs) names() []string {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	for n := range ls.near {
		seen[n] = true
		out = append(out, n)
	}
	for n := range ls.listeners {
		if !seen[n] {
			out = append(out, n)
		}
	}
	return out
}

func (ls *localSubs) addNear(name string, c invalidator) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.near[name] = append(ls.near[name], c)
}

func (ls *localSubs) addListener(name string, l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.listeners[name] = append(ls.listeners[name], l)
}

func (ls *localSubs) removeListener(name string, l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	list := ls.listeners[name]
	for i, x := range list {
		if x == l {
			ls.listeners[name] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(ls.listeners[name]) == 0 {
		delete(ls.listeners, name)
	}
}

func (ls *localSubs) deliver(msg *eventsMsg) {
	ls.mu.RLock()
	caches := ls.near[msg.Map]
	listeners := ls.listeners[msg.Map]
	ls.mu.RUnlock()
	for _, it := range msg.Items {
		for _, c := range caches {
			c.invalidate(it.Part, it.Seq, it.Key)
		}
		if it.Event != nil {
			for _, l := range listeners {
				l.enqueue(*it.Event)
			}
		}
	}
}

func (ls *localSubs) ownersChanged(parts []int) {
	if len(parts) == 0 {
		return
	}
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	for _, caches := range ls.near {
		for _, c := range caches {
			c.ownersChanged(parts)
		}
	}
}

func (ls *localSubs) closeAll() {
	ls.mu.Lock()
	all := ls.listeners
	ls.listeners = map[string][]*listener{}
	ls.mu.Unlock()
	for _, list := range all {
		for _, l := range list {
			l.stop()
		}
	}
}

// listenerQueue bounds the events waiting for one listener; beyond it,
// events are dropped and counted rather than stalling the member.
const listenerQueue = 1 << 16

// keptListenerBuffer bounds the capacity, in events, of a buffer a
// listener keeps once drained: a burst may grow the queue to
// listenerQueue, but an idle listener holds little (its buffers hold
// pointers, so every GC cycle scans them whole, empty or not).
const keptListenerBuffer = 256

// listener delivers events to one callback on its own goroutine, in the
// order they arrive. The queue is a slice that grows with the backlog, not
// a channel of listenerQueue events: such a channel took 6 MB per listener
// for as long as it lived, all of it scanned by every GC cycle.
type listener struct {
	fn      func(rawEvent)
	log     *slog.Logger
	name    string // the map's
	mu      sync.Mutex
	queue   []rawEvent    // waiting, oldest first; guarded by mu
	wake    chan struct{} // capacity 1: the queue went from empty to not
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newListener(name string, log *slog.Logger, fn func(rawEvent)) *listener {
	return &listener{fn: fn, log: log, name: name, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (l *listener) enqueue(e rawEvent) {
	l.mu.Lock()
	if len(l.queue) >= listenerQueue {
		l.mu.Unlock()
		// Logged at the first drop and at every power of two after it.
		if n := l.dropped.Add(1); n&(n-1) == 0 {
			l.log.Warn("grid: a listener fell behind; events dropped", "map", l.name, "dropped", n, "queue", listenerQueue)
		}
		return
	}
	l.queue = append(l.queue, e)
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// run takes the whole queue at a time, swapping in the buffer it drained
// last, and calls fn on each event.
func (l *listener) run(ctx context.Context) {
	var batch []rawEvent
	for {
		l.mu.Lock()
		batch, l.queue = l.queue, batch[:0]
		l.mu.Unlock()
		for i := range batch {
			select {
			case <-l.done:
				return
			default:
			}
			l.fn(batch[i])
			batch[i] = rawEvent{} // the event's bytes are not kept alive
		}
		if cap(batch) > keptListenerBuffer {
			batch = nil
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-l.wake:
		case <-l.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *listener) stop() { l.once.Do(func() { close(l.done) }) }
