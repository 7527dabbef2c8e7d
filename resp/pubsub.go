package resp

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/weir-dev/weir/grid"
)

// Map events as pub/sub: a channel is a map's name, and a subscriber
// receives each change of the map as a JSON message:
//
//	{"type":"added","key":"truck-7","value":"..."}
//	{"type":"removed","key":"truck-7","old":"..."}
//
// Events come from the map's owners as they apply writes (grid's map
// listeners), at most once each, as Redis delivers pub/sub messages; a
// subscriber that falls PubSubBuffer events behind is disconnected.
func init() {
	register(
		&command{name: "subscribe", arity: -2, run: cmdSubscribe, subscribed: true},
		&command{name: "unsubscribe", arity: -1, run: cmdUnsubscribe, subscribed: true},
	)
}

// mapEvent is a map change as a subscriber receives it.
type mapEvent struct {
	Type  string  `json:"type"`
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
	Old   *string `json:"old,omitempty"`
	Time  int64   `json:"time_ms"`
}

type pushMsg struct{ channel, data string }

// pushQueue carries a subscriber's messages from map listeners to the
// goroutine that writes them.
type pushQueue struct {
	ch   chan pushMsg
	done chan struct{}
	once sync.Once
}

func (q *pushQueue) stop() { q.once.Do(func() { close(q.done) }) }

func cmdSubscribe(c *client, _ context.Context, args [][]byte) {
	if c.pushes == nil {
		q := &pushQueue{ch: make(chan pushMsg, c.s.limits.PubSubBuffer), done: make(chan struct{})}
		if !c.s.h.Go(func(ctx context.Context) { c.writePushes(ctx, q) }) {
			c.fail(grid.ErrClosed)
			return
		}
		c.pushes = q
		c.subs = map[string]func(){}
	}
	for _, a := range args[1:] {
		ch := string(a)
		if _, ok := c.subs[ch]; !ok {
			c.subs[ch] = c.listen(ch)
		}
		c.out.push(3)
		c.out.bulk("subscribe")
		c.out.bulk(ch)
		c.out.int(int64(len(c.subs)))
	}
}

// listen adds a listener on map ch that queues its events to the client.
func (c *client) listen(ch string) func() {
	q := c.pushes
	return grid.GetMap[string, string](c.s.h, ch).AddListener(func(e grid.Event[string, string]) {
		me := mapEvent{Type: e.Type.String(), Key: e.Key, Time: e.Time.UnixMilli()}
		if e.HasValue {
			me.Value = &e.Value
		}
		if e.HasOld {
			me.Old = &e.Old
		}
		b, err := json.Marshal(me)
		if err != nil {
			return
		}
		select {
		case q.ch <- pushMsg{channel: ch, data: string(b)}:
		default:
			c.s.h.Logger().Warn("resp: subscriber too slow, disconnected", "client", c.id, "channel", ch)
			c.close()
		}
	})
}

// writePushes writes queued messages, as many at a time as are queued.
func (c *client) writePushes(ctx context.Context, q *pushQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.done:
			return
		case m := <-q.ch:
			c.wmu.Lock()
			c.message(m)
			for more := true; more && len(c.out.buf) < flushAt; {
				select {
				case m := <-q.ch:
					c.message(m)
				default:
					more = false
				}
			}
			err := c.flushLocked()
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (c *client) message(m pushMsg) {
	c.out.push(3)
	c.out.bulk("message")
	c.out.bulk(m.channel)
	c.out.bulk(m.data)
}

func cmdUnsubscribe(c *client, _ context.Context, args [][]byte) {
	chans := make([]string, 0, len(args)-1)
	for _, a := range args[1:] {
		chans = append(chans, string(a))
	}
	if len(chans) == 0 {
		for ch := range c.subs {
			chans = append(chans, ch)
		}
	}
	if len(chans) == 0 {
		c.out.push(3)
		c.out.bulk("unsubscribe")
		c.out.null()
		c.out.int(0)
		return
	}
	for _, ch := range chans {
		if remove, ok := c.subs[ch]; ok {
			remove()
			delete(c.subs, ch)
		}
		c.out.push(3)
		c.out.bulk("unsubscribe")
		c.out.bulk(ch)
		c.out.int(int64(len(c.subs)))
	}
}

func (c *client) unsubscribeAll() {
	for ch, remove := range c.subs {
		remove()
		delete(c.subs, ch)
	}
}
