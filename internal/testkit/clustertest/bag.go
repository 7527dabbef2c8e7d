package clustertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Ctx returns a context that ends after d or when the test ends.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A Bag gathers what a test job's sinks receive, by instance label. Jobs
// are built by name on every member, so a test names its bag in the job's
// parameters and the sinks find it with BagFor: the members run in the
// test's process.
type Bag struct {
	mu    sync.Mutex
	items map[string][]any // instance label -> items
}

var (
	bags   sync.Map // name -> *Bag
	bagSeq atomic.Int64
)

// NewBag returns a fresh bag name for one test run.
func NewBag(t testing.TB) string { return fmt.Sprintf("%s#%d", t.Name(), bagSeq.Add(1)) }

// BagFor returns the bag called name, created empty on first use.
func BagFor(name string) *Bag {
	b, _ := bags.LoadOrStore(name, &Bag{items: map[string][]any{}})
	return b.(*Bag)
}

// Add adds items under label.
func (b *Bag) Add(label string, items ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items[label] = append(b.items[label], items...)
}

// All returns every item, in no particular order across labels.
func (b *Bag) All() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []any
	for _, v := range b.items {
		out = append(out, v...)
	}
	return out
}
