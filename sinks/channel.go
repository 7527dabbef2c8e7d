package sinks

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// channels maps the names of registered channels to them.
var channels sync.Map // name -> registeredChannel

type registeredChannel struct {
	ch  any // chan<- T
	typ reflect.Type
}

// RegisterChannel makes ch the destination of the Channel sinks called name
// in this process, until unregister is called. A name is registered once at
// a time.
func RegisterChannel[T any](name string, ch chan<- T) (unregister func(), err error) {
	if name == "" || ch == nil {
		return nil, errors.New("register channel: empty name or nil channel")
	}
	rc := registeredChannel{ch: ch, typ: reflect.TypeFor[T]()}
	if _, dup := channels.LoadOrStore(name, rc); dup {
		return nil, fmt.Errorf("register channel: %q is already registered", name)
	}
	var once sync.Once
	return func() { once.Do(func() { channels.CompareAndDelete(name, rc) }) }, nil
}

// Channel sends every item to the Go channel registered under name with
// RegisterChannel, in the process of the member running each sink instance.
// It is for programs that run the whole cluster in one process (tests,
// examples, a service embedding a single member): a member in another
// process has no such channel, and the job fails when it starts there. Use
// Observable to deliver results across processes.
//
//	results := make(chan Alert, 100)
//	unregister, err := sinks.RegisterChannel("alerts", results)
//	defer unregister()
//	// in the job's builder: pipeline.WriteTo(alerts, sinks.Channel[Alert]("alerts"))
//
// A send waits while the channel is full: a slow reader holds the job back.
// The sink never closes the channel (several instances, on several members,
// share it): wait for the job's end with Job.Wait to know no more items
// come. Instances send concurrently; each sends its items in the order it
// received them. At least once: after a restart from a snapshot the items
// since it are sent again. Strings and byte slices that came over a
// distributed edge share the memory of the message they arrived in: copy
// (strings.Clone) what you keep of them for long.
func Channel[T any](name string) pipeline.Sink[T] {
	return pipeline.NewSink("channel-"+name, func(ctx *dag.Context) (pipeline.SinkWriter[T], error) {
		v, ok := channels.Load(name)
		if !ok {
			return nil, fmt.Errorf("channel sink: no channel registered as %q in the process of member %s (Channel works only when the cluster runs in the process that registered it)", name, ctx.MemberName())
		}
		rc := v.(registeredChannel)
		ch, ok := rc.ch.(chan<- T)
		if !ok {
			return nil, fmt.Errorf("channel sink: channel %q carries %s, the sink writes %s", name, rc.typ, reflect.TypeFor[T]())
		}
		return &channelWriter[T]{ctx: ctx, ch: ch}, nil
	})
}

type channelWriter[T any] struct {
	ctx *dag.Context
	ch  chan<- T
}

func (w *channelWriter[T]) Write(items []T) error {
	done := w.ctx.Context().Done()
	for _, it := range items {
		select {
		case w.ch <- it:
		case <-done:
			return w.ctx.Context().Err()
		}
	}
	return nil
}

func (w *channelWriter[T]) Close() error { return nil }
