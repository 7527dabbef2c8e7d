package nemesis

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
	"github.com/weir-dev/weir/member"
)

// Map names of the workload.
const (
	RegisterMap = "nemesis-registers"
	CounterMap  = "nemesis-counters"
)

// Workload is the clients of a nemesis test, run through one member:
// writers that take keys through a short life (put, put, and a while
// later delete; then the key is left alone, so an acknowledged delete must
// stay a delete),
// readers of the keys in use, and incrementers of a few counters with an
// entry processor. Every operation goes into the History.
type Workload struct {
	// Writers, Readers and Adders are how many clients of each kind run.
	Writers, Readers, Adders int
	// Counters is how many counter keys the adders share.
	Counters int
	// Timeout bounds each operation; past it the outcome is unknown.
	Timeout time.Duration
	// Lag is how many keys later a writer deletes a key.
	Lag int

	h        *History
	regs     *grid.Map[string, int64]
	counters *grid.Map[string, int64]
	next     atomic.Int64 // the next value a put writes: every value is unique
	deleted  atomic.Int64 // deletes acknowledged

	mu     sync.Mutex
	recent []string // keys last written, for the readers

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewWorkload prepares a workload through m with the defaults: 4 writers
// deleting 100 keys behind, 2 readers, 2 adders on 8 counters, 3 s per
// operation.
func NewWorkload(m member.Services, h *History) *Workload {
	return &Workload{Writers: 4, Readers: 2, Adders: 2, Counters: 8, Timeout: 3 * time.Second, Lag: 100, h: h,
		regs: grid.GetMap[string, int64](m, RegisterMap), counters: grid.GetMap[string, int64](m, CounterMap)}
}

// Start starts the clients.
func (w *Workload) Start() {
	w.stop = make(chan struct{})
	for i := range w.Writers {
		w.wg.Add(1)
		go w.writer(fmt.Sprintf("w%d", i))
	}
	for i := range w.Readers {
		w.wg.Add(1)
		go w.reader(fmt.Sprintf("r%d", i), uint64(i))
	}
	for i := range w.Adders {
		w.wg.Add(1)
		go w.adder(fmt.Sprintf("a%d", i), uint64(i))
	}
}

// Stop stops the clients and waits for their last operations. It may be
// called again.
func (w *Workload) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.wg.Wait()
}

func (w *Workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// writer gives each of its keys the life put, put, and, Lag keys later,
// delete: at any moment it has Lag keys written and not yet deleted, so
// a fault meets deletes of keys written before it, and keys written
// before it that must survive it.
func (w *Workload) writer(name string) {
	defer w.wg.Done()
	var live []string
	for n := 0; !w.stopped(); n++ {
		key := fmt.Sprintf("%s-%d", name, n)
		w.publish(key)
		for _, kind := range []Kind{Put, Put} {
			if w.stopped() {
				return
			}
			w.write(name, kind, key)
		}
		if live = append(live, key); len(live) > w.Lag {
			w.write(name, Delete, live[0])
			live = live[1:]
		}
	}
}

func (w *Workload) write(client string, kind Kind, key string) {
	v := w.next.Add(1)
	i := w.h.Invoke(Op{Client: client, Kind: kind, Key: key, Value: v})
	ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
	defer cancel()
	var err error
	if kind == Put {
		err = w.regs.Put(ctx, key, v)
	} else {
		err = w.regs.Delete(ctx, key)
	}
	w.h.Complete(i, outcome(err, false), err, v, false)
	if kind == Delete && err == nil {
		w.deleted.Add(1)
	}
}

// Deleted is how many deletes were acknowledged so far: none until the
// writers are Lag keys in.
func (w *Workload) Deleted() int64 { return w.deleted.Load() }

// outcome classifies an error: a failed write may still have taken effect.
func outcome(err error, read bool) Outcome {
	switch {
	case err == nil:
		return OK
	case read:
		return Failed
	default:
		return Unknown
	}
}

func (w *Workload) publish(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recent = append(w.recent, key)
	if len(w.recent) > 4*w.Writers {
		w.recent = slices.Delete(w.recent, 0, 1)
	}
}

func (w *Workload) reader(name string, seed uint64) {
	defer w.wg.Done()
	rnd := rand.New(rand.NewPCG(seed, 1))
	for !w.stopped() {
		w.mu.Lock()
		var key string
		if len(w.recent) > 0 {
			key = w.recent[rnd.IntN(len(w.recent))]
		}
		w.mu.Unlock()
		if key == "" { // no key written yet
			select {
			case <-w.stop:
			case <-time.After(time.Millisecond):
			}
			continue
		}
		w.read(name, w.regs, key)
	}
}

func (w *Workload) read(client string, mp *grid.Map[string, int64], key string) {
	i := w.h.Invoke(Op{Client: client, Kind: Read, Key: key})
	ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
	defer cancel()
	v, found, err := mp.Get(ctx, key)
	w.h.Complete(i, outcome(err, true), err, v, found)
}

func (w *Workload) adder(name string, seed uint64) {
	defer w.wg.Done()
	rnd := rand.New(rand.NewPCG(seed, 2))
	for !w.stopped() {
		key := fmt.Sprintf("c%d", rnd.IntN(w.Counters))
		i := w.h.Invoke(Op{Client: name, Kind: Add, Key: key, Value: 1})
		ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
		_, err := grid.Execute(ctx, w.counters, key, testjobs.Add, 1)
		cancel()
		w.h.Complete(i, outcome(err, false), err, 1, false)
	}
}

// ReadAll reads, as client, every key the history wrote so far and every
// counter, in batches, until each read succeeds or d has passed. The
// final client's reads are what the cluster kept; the check client's,
// after each fault, say when something went missing.
func (w *Workload) ReadAll(client string, d time.Duration) {
	keys := map[string]bool{}
	counters := map[string]bool{}
	for _, op := range w.h.Ops() {
		switch op.Kind {
		case Put, Delete:
			keys[op.Key] = true
		case Add:
			counters[op.Key] = true
		}
	}
	deadline := time.Now().Add(d)
	for _, set := range []struct {
		keys map[string]bool
		mp   *grid.Map[string, int64]
	}{{keys, w.regs}, {counters, w.counters}} {
		all := slices.Sorted(maps.Keys(set.keys))
		for len(all) > 0 {
			batch := all[:min(len(all), 500)]
			if w.readBatch(client, set.mp, batch) || time.Now().After(deadline) {
				all = all[len(batch):]
			}
		}
	}
}

// readBatch reads keys with one GetAll, recording a read of each.
func (w *Workload) readBatch(client string, mp *grid.Map[string, int64], keys []string) bool {
	idx := make([]int, len(keys))
	for j, k := range keys {
		idx[j] = w.h.Invoke(Op{Client: client, Kind: Read, Key: k})
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
	defer cancel()
	got, err := mp.GetAll(ctx, keys)
	for j, k := range keys {
		v, found := got[k]
		w.h.Complete(idx[j], outcome(err, true), err, v, found)
	}
	return err == nil
}
