package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
)

// LookupMap enriches each item with the entry of a distributed map under
// key(item): join receives the item, the value and whether there was one.
// The stage runs on the member owning each key (the items move to it), so
// every lookup is a local read.
func LookupMap[T any, K comparable, V, R any](s Stage[T], mapName string, key func(T) K, join func(item T, v V, found bool) (R, bool)) Stage[R] {
	return lookup(s, mapName, key, join, nil)
}

// LookupMapCached is LookupMap through a near cache on each member: the
// items stay where they are, and hot keys cost no round trip. For
// read-mostly reference data (vehicle limits, driver assignments).
func LookupMapCached[T any, K comparable, V, R any](s Stage[T], mapName string, key func(T) K, join func(item T, v V, found bool) (R, bool), cache grid.NearCacheConfig) Stage[R] {
	return lookup(s, mapName, key, join, &cache)
}

func lookup[T any, K comparable, V, R any](s Stage[T], mapName string, key func(T) K, join func(T, V, bool) (R, bool), cache *grid.NearCacheConfig) Stage[R] {
	n := s.n.p.add("lookup-"+mapName, []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor {
			return &lookupP[T, K, V, R]{mapName: mapName, key: key, join: join, cache: cache}
		})
		if cache == nil {
			keyedInput(c, n, 0, 0, key)
		} else {
			c.input(n, 0, 0)
		}
		return nil
	}
	return newStage[R](n)
}

type lookupP[T any, K comparable, V, R any] struct {
	mapName string
	key     func(T) K
	join    func(T, V, bool) (R, bool)
	cache   *grid.NearCacheConfig
	ctx     *dag.Context
	m       *grid.Map[K, V]
	out     *fanout[R]
	keys    []K
	pending []Timed[R]
}

func (p *lookupP[T, K, V, R]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	var opts []grid.MapOption
	if p.cache != nil {
		opts = append(opts, grid.WithNearCache(*p.cache))
	}
	p.m = grid.GetMap[K, V](ctx, p.mapName, opts...)
	p.out, err = outputs[R](ctx)
	return err
}

func (p *lookupP[T, K, V, R]) drain() bool {
	for len(p.pending) > 0 {
		if !p.out.Offer(p.pending[0]) {
			return false
		}
		p.pending = p.pending[1:]
	}
	p.pending = p.pending[:0]
	return true
}

// Process looks a whole batch up at once: one request per owning member.
func (p *lookupP[T, K, V, R]) Process(_ int, in *dag.Inbox) error {
	if !p.drain() {
		return nil
	}
	items := dag.Items[Timed[T]](in)
	p.keys = p.keys[:0]
	for _, it := range items {
		p.keys = append(p.keys, p.key(it.V))
	}
	vals, err := p.m.GetAll(p.ctx.Context(), p.keys)
	if err != nil {
		return fmt.Errorf("lookup in %s: %w", p.mapName, err)
	}
	for i, it := range items {
		v, ok := vals[p.keys[i]]
		if r, emit := p.join(it.V, v, ok); emit {
			p.pending = append(p.pending, Timed[R]{TS: it.TS, V: r})
		}
	}
	in.Consume(len(items))
	p.drain()
	return nil
}

func (p *lookupP[T, K, V, R]) Complete() (bool, error) { return p.drain(), nil }

// MapUsingService transforms items with a service that create makes once
// per processor instance (a client, a model, a connection pool); fn may
// block. A service implementing io.Closer is closed when the job ends.
func MapUsingService[T, S, R any](s Stage[T], create func(ctx *dag.Context) (S, error), fn func(svc S, item T) (R, bool, error)) Stage[R] {
	n := s.n.p.add("map-using-service", []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &serviceP[T, S, R]{create: create, fn: fn} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[R](n)
}

type serviceP[T, S, R any] struct {
	create func(*dag.Context) (S, error)
	fn     func(S, T) (R, bool, error)
	svc    S
	out    *fanout[R]
}

func (p *serviceP[T, S, R]) Init(ctx *dag.Context) (err error) {
	if p.svc, err = p.create(ctx); err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	p.out, err = outputs[R](ctx)
	return err
}

func (p *serviceP[T, S, R]) Process(_ int, in *dag.Inbox) error {
	items := dag.Items[Timed[T]](in)
	for i, it := range items {
		r, emit, err := p.fn(p.svc, it.V)
		if err != nil {
			return err
		}
		if emit && !p.out.Offer(Timed[R]{TS: it.TS, V: r}) {
			// The call is repeated when the item is offered again.
			in.Consume(i)
			return nil
		}
	}
	in.Consume(len(items))
	return nil
}

func (p *serviceP[T, S, R]) Complete() (bool, error) { return true, nil }

func (p *serviceP[T, S, R]) Close() error {
	if c, ok := any(p.svc).(io.Closer); ok && c != nil {
		return c.Close()
	}
	return nil
}

// AsyncConfig bounds and shapes asynchronous calls to an external service.
type AsyncConfig struct {
	// MaxInFlight is the calls in progress at once per processor instance
	// (default 4).
	MaxInFlight int
	// Unordered emits results as calls complete; by default results keep
	// the order of the items.
	Unordered bool
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// Retries is the attempts after a failed one (default 2); after the
	// last, the job fails with the error.
	Retries int
	// Backoff is the pause before a retry, doubled each time (default 50ms).
	Backoff time.Duration
	// MaxBatch is the items per call of MapAsyncBatch (default 64).
	MaxBatch int
}

func (c AsyncConfig) withDefaults() AsyncConfig {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 2
	}
	if c.Backoff <= 0 {
		c.Backoff = 50 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 64
	}
	return c
}

// MapAsync calls a service asynchronously for each item: up to MaxInFlight
// calls run at once per processor instance while the stage keeps taking
// items, with a timeout and retries per call. A watermark waits for the
// calls before it, so results are never late because they were slow.
func MapAsync[T, R any](s Stage[T], cfg AsyncConfig, call func(ctx context.Context, item T) (R, error)) Stage[R] {
	cfg = cfg.withDefaults()
	cfg.MaxBatch = 1
	return asyncStage(s, cfg, "map-async", func(ctx context.Context, items []T) ([]R, error) {
		r, err := call(ctx, items[0])
		return []R{r}, err
	})
}

// MapAsyncBatch is MapAsync with calls taking up to MaxBatch items at once,
// for services with a batch API; call returns one result per item.
func MapAsyncBatch[T, R any](s Stage[T], cfg AsyncConfig, call func(ctx context.Context, items []T) ([]R, error)) Stage[R] {
	return asyncStage(s, cfg.withDefaults(), "map-async-batch", call)
}

func asyncStage[T, R any](s Stage[T], cfg AsyncConfig, name string, call func(context.Context, []T) ([]R, error)) Stage[R] {
	n := s.n.p.add(name, []*node{s.n}, nil)
	n.build = func(c *compiler) error {
		c.vertex(n, func() dag.Processor { return &asyncP[T, R]{cfg: cfg, call: call} })
		c.input(n, 0, 0)
		return nil
	}
	return newStage[R](n)
}

// asyncReq is one call: its items, and once done, its results or error.
type asyncReq[T, R any] struct {
	items   []Timed[T]
	results []R
	err     error
	done    bool
}

type asyncP[T, R any] struct {
	cfg  AsyncConfig
	call func(context.Context, []T) ([]R, error)
	ctx  *dag.Context
	out  *fanout[R]
	reqs chan *asyncReq[T, R]
	wg   sync.WaitGroup

	mu       sync.Mutex        // guards done and the requests' result fields
	order    []*asyncReq[T, R] // in flight, in item order
	inFlight int
	emitting []Timed[R] // results being emitted
}

func (p *asyncP[T, R]) Init(ctx *dag.Context) (err error) {
	p.ctx = ctx
	if p.out, err = outputs[R](ctx); err != nil {
		return err
	}
	p.reqs = make(chan *asyncReq[T, R])
	for range p.cfg.MaxInFlight {
		p.wg.Add(1)
		if !ctx.Go(p.worker) {
			p.wg.Done()
			return errors.New("member is shutting down")
		}
	}
	return nil
}

func (p *asyncP[T, R]) worker(memberCtx context.Context) {
	defer p.wg.Done()
	for {
		var req *asyncReq[T, R]
		select {
		case r, ok := <-p.reqs:
			if !ok {
				return
			}
			req = r
		case <-memberCtx.Done():
			return
		}
		results, err := p.attempt(req.items)
		p.mu.Lock()
		req.results, req.err, req.done = results, err, true
		p.mu.Unlock()
		p.ctx.Wake()
	}
}

// attempt calls the service with retries.
func (p *asyncP[T, R]) attempt(items []Timed[T]) ([]R, error) {
	vals := make([]T, len(items))
	for i, it := range items {
		vals[i] = it.V
	}
	backoff := p.cfg.Backoff
	var err error
	for try := 0; try <= p.cfg.Retries; try++ {
		if try > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.ctx.Context().Done():
				t.Stop()
				return nil, p.ctx.Context().Err()
			}
			backoff *= 2
		}
		ctx, cancel := context.WithTimeout(p.ctx.Context(), p.cfg.Timeout)
		var rs []R
		rs, err = p.call(ctx, vals)
		cancel()
		if err == nil && len(rs) != len(vals) {
			err = fmt.Errorf("service returned %d results for %d items", len(rs), len(vals))
		}
		if err == nil {
			return rs, nil
		}
		if p.ctx.Context().Err() != nil {
			return nil, p.ctx.Context().Err()
		}
	}
	return nil, fmt.Errorf("service call failed after %d attempts: %w", p.cfg.Retries+1, err)
}

func (p *asyncP[T, R]) Process(_ int, in *dag.Inbox) error {
	if _, err := p.collect(); err != nil {
		return err
	}
	items := dag.Items[Timed[T]](in)
	taken := 0
	for taken < len(items) && p.inFlight < p.cfg.MaxInFlight {
		k := min(p.cfg.MaxBatch, len(items)-taken)
		req := &asyncReq[T, R]{items: append([]Timed[T](nil), items[taken:taken+k]...)}
		select {
		case p.reqs <- req:
		default:
			// Every worker is busy handing back a result: try later.
			in.Consume(taken)
			return nil
		}
		p.order = append(p.order, req)
		p.inFlight++
		taken += k
	}
	in.Consume(taken)
	return nil
}

// TryProcess emits completed results.
func (p *asyncP[T, R]) TryProcess() (bool, error) { return p.collect() }

// collect moves finished calls' results to the output, in item order unless
// unordered, and reports whether anything moved.
func (p *asyncP[T, R]) collect() (bool, error) {
	moved := false
	for {
		for len(p.emitting) > 0 {
			if !p.out.Offer(p.emitting[0]) {
				return moved, nil
			}
			p.emitting = p.emitting[1:]
			moved = true
		}
		p.mu.Lock()
		var next *asyncReq[T, R]
		for i, req := range p.order {
			if req.done {
				next = req
				p.order = append(p.order[:i:i], p.order[i+1:]...)
				break
			}
			if !p.cfg.Unordered {
				break // the oldest call is not done: keep the order
			}
		}
		p.mu.Unlock()
		if next == nil {
			return moved, nil
		}
		p.inFlight--
		moved = true
		if next.err != nil {
			return moved, next.err
		}
		for i, it := range next.items {
			p.emitting = append(p.emitting, Timed[R]{TS: it.TS, V: next.results[i]})
		}
	}
}

// ProcessWatermark holds the watermark until every call before it has
// delivered its results.
func (p *asyncP[T, R]) ProcessWatermark(int64) (bool, error) {
	if _, err := p.collect(); err != nil {
		return false, err
	}
	return p.inFlight == 0 && len(p.emitting) == 0, nil
}

func (p *asyncP[T, R]) Complete() (bool, error) {
	if _, err := p.collect(); err != nil {
		return false, err
	}
	return p.inFlight == 0 && len(p.emitting) == 0, nil
}

func (p *asyncP[T, R]) Close() error {
	if p.reqs != nil {
		close(p.reqs)
		p.wg.Wait()
		p.reqs = nil
	}
	return nil
}

// SaveSnapshot waits for the calls in flight: their results must be
// emitted before the barrier, or they would be lost with the calls.
func (p *asyncP[T, R]) SaveSnapshot(*dag.SnapshotWriter) (bool, error) {
	if _, err := p.collect(); err != nil {
		return false, err
	}
	return p.inFlight == 0 && len(p.emitting) == 0, nil
}

func (p *asyncP[T, R]) RestoreSnapshot([]byte, []byte) error { return nil }
