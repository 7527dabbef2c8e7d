package resp

import (
	"bytes"
	"context"

	"github.com/tidwall/redcon"

	"github.com/weir-dev/weir/grid"
)

// Pipelines: a run of plain GETs (or of plain SETs, or of INCR, INCRBY,
// DECR and DECRBY) in one batch of commands goes to the owning members
// together, one request per member (grid's GetAll, PutAll and ExecuteAll),
// and the replies are written in the order of the commands. Each increment
// is still an entry processor call of its own, with its own request ID:
// applied once even when retried after its owner died. A run never spans other commands, so every command sees
// the writes of those before it; a run of SETs of one key keeps the last
// value, as running them one by one would.

type batchKind uint8

const (
	notBatched batchKind = iota
	batchGet
	batchSet
	batchIncr
)

func kindOf(cmd redcon.Command) batchKind {
	switch {
	case len(cmd.Args) == 2 && bytes.EqualFold(cmd.Args[0], []byte("get")):
		return batchGet
	case len(cmd.Args) == 3 && bytes.EqualFold(cmd.Args[0], []byte("set")):
		return batchSet
	}
	if _, ok := incrBy(cmd.Args); ok {
		return batchIncr
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
	if kindOf(cmds[0]) == batchIncr {
		c.batchIncr(ctx, cmds)
		return
	}
	// Keys this member owns are served in place, with no request (and no
	// encoding) at all; the others go to their owners together.
	local := make([]bool, len(cmds))
	var remote []int
	for i, cmd := range cmds {
		if local[i] = c.s.ownsKey(string(cmd.Args[1])); !local[i] {
			remote = append(remote, i)
		}
	}
	if kindOf(cmds[0]) == batchGet {
		c.batchGet(ctx, cmds, local, remote)
	} else {
		c.batchSet(ctx, cmds, local, remote)
	}
}

func (c *client) batchGet(ctx context.Context, cmds []redcon.Command, local []bool, remote []int) {
	var vs map[string]string
	var err error
	if len(remote) > 0 {
		keys := make([][]byte, len(remote))
		for j, i := range remote {
			keys[j] = cmds[i].Args[1]
		}
		vs, err = getAll(ctx, c.s.strs, keys)
	}
	for i, cmd := range cmds {
		if local[i] {
			cmdGet(c, ctx, cmd.Args)
			continue
		}
		if err != nil {
			c.fail(err)
			continue
		}
		v, ok := vs[string(cmd.Args[1])]
		c.out.maybe(v, ok)
	}
}

func (c *client) batchSet(ctx context.Context, cmds []redcon.Command, local []bool, remote []int) {
	var err error
	if len(remote) > 0 {
		entries := make(map[string]string, len(remote))
		for _, i := range remote {
			entries[string(cmds[i].Args[1])] = string(cmds[i].Args[2])
		}
		err = c.s.strs.PutAll(ctx, entries)
	}
	for i, cmd := range cmds {
		switch {
		case local[i]:
			cmdSet(c, ctx, cmd.Args)
		case err != nil:
			c.fail(err)
		default:
			c.out.ok()
		}
	}
}

// incrBy returns what an INCR, INCRBY, DECR or DECRBY command adds, and
// false for any other command, or one whose arguments are wrong (it then
// runs alone, to be answered with its error).
func incrBy(args [][]byte) (int64, bool) {
	if len(args) < 2 || len(args) > 3 || len(args[0]) < 4 || len(args[0]) > 6 {
		return 0, false
	}
	name := args[0]
	switch {
	case len(args) == 2 && bytes.EqualFold(name, []byte("incr")):
		return 1, true
	case len(args) == 2 && bytes.EqualFold(name, []byte("decr")):
		return -1, true
	case len(args) == 3 && bytes.EqualFold(name, []byte("incrby")):
		return parseInt(args[2])
	case len(args) == 3 && bytes.EqualFold(name, []byte("decrby")):
		n, ok := parseInt(args[2])
		return -n, ok && n != -1<<63
	}
	return 0, false
}

// batchIncr runs a run of increments: each owning member gets one request
// for all its keys (those of this member run in place), and the
// increments of one key apply in the order of the commands.
func (c *client) batchIncr(ctx context.Context, cmds []redcon.Command) {
	keys := make([]string, len(cmds))
	by := make([]int64, len(cmds))
	for i, cmd := range cmds {
		keys[i] = string(cmd.Args[1])
		by[i], _ = incrBy(cmd.Args)
	}
	rs, errs := grid.ExecuteAll(ctx, c.s.strs, keys, incr, by)
	for i, r := range rs {
		c.replyIncr(r, errs[i])
	}
}
