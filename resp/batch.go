package resp

import (
	"bytes"
	"context"

	"github.com/tidwall/redcon"
)

// Pipelines: a run of plain GETs (or of plain SETs) in one batch of
// commands goes to the owning members together, one request per member
// (grid's GetAll and PutAll), and the replies are written in the order of
// the commands. A run never spans other commands, so every command sees
// the writes of those before it; a run of SETs of one key keeps the last
// value, as running them one by one would.

type batchKind uint8

const (
	notBatched batchKind = iota
	batchGet
	batchSet
)

func kindOf(cmd redcon.Command) batchKind {
	switch {
	case len(cmd.Args) == 2 && bytes.EqualFold(cmd.Args[0], []byte("get")):
		return batchGet
	case len(cmd.Args) == 3 && bytes.EqualFold(cmd.Args[0], []byte("set")):
		return batchSet
	}
	return notBatched
}

// batchable returns how many commands from the first form a run.
func (c *client) batchable(cmds []redcon.Command) int {
	if len(cmds) < 2 || !c.authed || len(c.subs) > 0 {
		return 0
	}
	k := kindOf(cmds[0])
	if k == notBatched {
		return 0
	}
	n := 1
	for n < len(cmds) && kindOf(cmds[n]) == k {
		n++
	}
	return n
}

func (c *client) runBatch(ctx context.Context, cmds []redcon.Command) {
	c.s.commands.Add(int64(len(cmds)))
	if kindOf(cmds[0]) == batchGet {
		keys := make([][]byte, len(cmds))
		for i, cmd := range cmds {
			keys[i] = cmd.Args[1]
		}
		vs, err := getAll(ctx, c.s.strs, keys)
		for _, k := range keys {
			if err != nil {
				c.fail(err)
				continue
			}
			v, ok := vs[string(k)]
			c.out.maybe(v, ok)
		}
		return
	}
	entries := make(map[string]string, len(cmds))
	for _, cmd := range cmds {
		entries[string(cmd.Args[1])] = string(cmd.Args[2])
	}
	err := c.s.strs.PutAll(ctx, entries)
	for range cmds {
		if err != nil {
			c.fail(err)
		} else {
			c.out.ok()
		}
	}
}
