package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// collector gathers what sinks receive, per test, keyed by a name the job's
// parameters carry.
var collected sync.Map // name -> *bag

type bag struct {
	mu    sync.Mutex
	items map[string][]any // instance label -> items
}

var bagSeq atomic.Int64

// newBag returns a fresh bag name for one test run.
func newBag(t testing.TB) string { return fmt.Sprintf("%s#%d", t.Name(), bagSeq.Add(1)) }

func bagFor(name string) *bag {
	b, _ := collected.LoadOrStore(name, &bag{items: map[string][]any{}})
	return b.(*bag)
}

func (b *bag) add(label string, items ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items[label] = append(b.items[label], items...)
}

func (b *bag) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []any
	for _, v := range b.items {
		out = append(out, v...)
	}
	return out
}
