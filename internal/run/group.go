// Package run tracks the goroutines of a long-lived component so that shutdown
// can cancel and join every one of them.
//
// Long-lived code in weir never uses a bare go statement: it starts goroutines
// through a Group, whose Stop cancels the group's context and waits for all of
// them, so tests can assert with goleak that nothing outlives a member.
package run

import (
	"context"
	"sync"
)

// Group is a set of goroutines sharing one cancellable context. The zero value
// is not usable; create one with NewGroup.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards stopped and the Add side of wg against Stop
	stopped bool
	wg      sync.WaitGroup
}

// NewGroup returns a group whose context is derived from parent.
func NewGroup(parent context.Context) *Group {
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is cancelled when Stop is called.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs fn in a new goroutine tracked by the group and reports whether it
// started: after Stop it returns false and fn is not run.
func (g *Group) Go(fn func(ctx context.Context)) bool {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return false
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
	}()
	return true
}

// Cancel cancels the group's context without waiting; new goroutines may still
// be started until Stop.
func (g *Group) Cancel() { g.cancel() }

// Stop cancels the group's context, refuses new goroutines and waits for all
// running ones to return. It is idempotent.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// Wait waits for the running goroutines without cancelling them.
func (g *Group) Wait() { g.wg.Wait() }
