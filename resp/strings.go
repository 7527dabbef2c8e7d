package resp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/weir-dev/weir/grid"
)

// String commands, on DefaultMap.
func init() {
	w, r := []string{"write"}, []string{"readonly"}
	register(
		&command{name: "get", arity: 2, run: cmdGet, flags: r, first: 1, last: 1, step: 1},
		&command{name: "set", arity: -3, run: cmdSet, flags: w, first: 1, last: 1, step: 1},
		&command{name: "getdel", arity: 2, run: cmdGetDel, flags: w, first: 1, last: 1, step: 1},
		&command{name: "del", arity: -2, run: cmdDel, flags: w, first: 1, last: -1, step: 1},
		&command{name: "unlink", arity: -2, run: cmdDel, flags: w, first: 1, last: -1, step: 1},
		&command{name: "exists", arity: -2, run: cmdExists, flags: r, first: 1, last: -1, step: 1},
		&command{name: "mget", arity: -2, run: cmdMGet, flags: r, first: 1, last: -1, step: 1},
		&command{name: "mset", arity: -3, run: cmdMSet, flags: w, first: 1, last: -1, step: 2},
		&command{name: "incr", arity: 2, run: cmdIncr(1, false), flags: w, first: 1, last: 1, step: 1},
		&command{name: "decr", arity: 2, run: cmdIncr(-1, false), flags: w, first: 1, last: 1, step: 1},
		&command{name: "incrby", arity: 3, run: cmdIncr(1, true), flags: w, first: 1, last: 1, step: 1},
		&command{name: "decrby", arity: 3, run: cmdIncr(-1, true), flags: w, first: 1, last: 1, step: 1},
		&command{name: "append", arity: 3, run: cmdAppend, flags: w, first: 1, last: 1, step: 1},
		&command{name: "expire", arity: -3, run: cmdExpire(time.Second), flags: w, first: 1, last: 1, step: 1},
		&command{name: "pexpire", arity: -3, run: cmdExpire(time.Millisecond), flags: w, first: 1, last: 1, step: 1},
		&command{name: "persist", arity: 2, run: cmdPersist, flags: w, first: 1, last: 1, step: 1},
		&command{name: "ttl", arity: 2, run: cmdTTL(time.Second), flags: r, first: 1, last: 1, step: 1},
		&command{name: "pttl", arity: 2, run: cmdTTL(time.Millisecond), flags: r, first: 1, last: 1, step: 1},
	)
}

func cmdGet(c *client, ctx context.Context, args [][]byte) {
	v, ok, err := c.s.strs.Get(ctx, string(args[1]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.maybe(v, ok)
}

// cmdSet is SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL].
// A plain SET (or one with EX or PX only) is a Put; the others run as an
// entry processor.
func cmdSet(c *client, ctx context.Context, args [][]byte) {
	key, val := string(args[1]), string(args[2])
	var a setArgs
	var get, hasTTL bool
	for i := 3; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		switch opt {
		case "NX":
			a.NX = true
		case "XX":
			a.XX = true
		case "GET":
			get = true
		case "KEEPTTL":
			a.KeepTTL = true
		case "EX", "PX", "EXAT", "PXAT":
			if hasTTL || i+1 == len(args) {
				c.out.error(errSyntax)
				return
			}
			i++
			n, ok := parseInt(args[i])
			if !ok {
				c.out.error(errNotInt)
				return
			}
			d, ok := ttlOf(opt, n)
			if !ok {
				c.out.error(fmt.Sprintf(errBadExpire, "set"))
				return
			}
			a.TTL, hasTTL = int64(d), true
		default:
			c.out.error(errSyntax)
			return
		}
	}
	if (a.NX && a.XX) || (a.KeepTTL && hasTTL) {
		c.out.error(errSyntax)
		return
	}
	if hasTTL && a.TTL <= 0 {
		// An absolute time in the past: the key is set and expires at once.
		a.TTL = 1
	}
	if !a.NX && !a.XX && !get && !a.KeepTTL {
		var err error
		if hasTTL {
			err = c.s.strs.PutTTL(ctx, key, val, time.Duration(a.TTL))
		} else {
			err = c.s.strs.Put(ctx, key, val)
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.out.ok()
		return
	}
	a.Value = val
	old, err := grid.Execute(ctx, c.s.strs, key, setWith, a)
	switch {
	case err != nil:
		c.fail(err)
	case get:
		c.out.maybe(old.V, old.Had)
	case old.Set:
		c.out.ok()
	default:
		c.out.null()
	}
}

// ttlOf turns a SET or EXPIRE time option into a time to live; false if
// the relative time is not positive.
func ttlOf(opt string, n int64) (time.Duration, bool) {
	switch opt {
	case "EX":
		return time.Duration(n) * time.Second, n > 0 && n < 1<<33
	case "PX":
		return time.Duration(n) * time.Millisecond, n > 0 && n < 1<<43
	case "EXAT":
		return time.Until(time.Unix(n, 0)), n > 0
	case "PXAT":
		return time.Until(time.UnixMilli(n)), n > 0
	}
	return 0, false
}

func cmdGetDel(c *client, ctx context.Context, args [][]byte) {
	old, err := grid.Execute(ctx, c.s.strs, string(args[1]), getDel, struct{}{})
	if err != nil {
		c.fail(err)
		return
	}
	c.out.maybe(old.V, old.Had)
}

func cmdDel(c *client, ctx context.Context, args [][]byte) {
	n, err := deleteKeys(ctx, c.s.strs, args[1:])
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(n)
}

// deleteKeys removes keys from mp and counts those that were there.
func deleteKeys(ctx context.Context, mp *grid.Map[string, string], keys [][]byte) (int64, error) {
	var n int64
	for _, k := range keys {
		old, err := grid.Execute(ctx, mp, string(k), getDel, struct{}{})
		if err != nil {
			return n, err
		}
		if old.Had {
			n++
		}
	}
	return n, nil
}

func cmdExists(c *client, ctx context.Context, args [][]byte) {
	vs, err := getAll(ctx, c.s.strs, args[1:])
	if err != nil {
		c.fail(err)
		return
	}
	var n int64
	for _, k := range args[1:] {
		if _, ok := vs[string(k)]; ok {
			n++
		}
	}
	c.out.int(n)
}

func cmdMGet(c *client, ctx context.Context, args [][]byte) {
	vs, err := getAll(ctx, c.s.strs, args[1:])
	if err != nil {
		c.fail(err)
		return
	}
	c.out.array(len(args) - 1)
	for _, k := range args[1:] {
		v, ok := vs[string(k)]
		c.out.maybe(v, ok)
	}
}

func cmdMSet(c *client, ctx context.Context, args [][]byte) {
	if len(args)%2 != 1 {
		c.out.error("ERR wrong number of arguments for 'mset' command")
		return
	}
	entries := make(map[string]string, len(args)/2)
	for i := 1; i < len(args); i += 2 {
		entries[string(args[i])] = string(args[i+1])
	}
	if err := c.s.strs.PutAll(ctx, entries); err != nil {
		c.fail(err)
		return
	}
	c.out.ok()
}

func cmdIncr(sign int64, by bool) func(*client, context.Context, [][]byte) {
	return func(c *client, ctx context.Context, args [][]byte) {
		n := int64(1)
		if by {
			var ok bool
			if n, ok = parseInt(args[2]); !ok {
				c.out.error(errNotInt)
				return
			}
			if sign < 0 && n == -1<<63 {
				c.out.error(errOverflow)
				return
			}
		}
		r, err := grid.Execute(ctx, c.s.strs, string(args[1]), incr, sign*n)
		c.replyIncr(r, err)
	}
}

// replyIncr answers an increment.
func (c *client) replyIncr(r numResult, err error) {
	switch {
	case err != nil:
		c.fail(err)
	case r.Err != "":
		c.out.error(r.Err)
	default:
		c.out.int(r.N)
	}
}

func cmdAppend(c *client, ctx context.Context, args [][]byte) {
	n, err := grid.Execute(ctx, c.s.strs, string(args[1]), appendStr, string(args[2]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(n)
}

func cmdExpire(unit time.Duration) func(*client, context.Context, [][]byte) {
	return func(c *client, ctx context.Context, args [][]byte) {
		n, ok := parseInt(args[2])
		if !ok {
			c.out.error(errNotInt)
			return
		}
		if n > int64(1<<62)/int64(unit) || n < -int64(1<<62)/int64(unit) {
			c.out.error(fmt.Sprintf(errBadExpire, strings.ToLower(string(args[0]))))
			return
		}
		a := expireArgs{TTL: n * int64(unit)}
		if len(args) > 4 {
			c.out.error(errSyntax)
			return
		}
		if len(args) == 4 {
			a.Cond = strings.ToUpper(string(args[3]))
			switch a.Cond {
			case "NX", "XX", "GT", "LT":
			default:
				c.out.error("ERR Unsupported option " + string(args[3]))
				return
			}
		}
		r, err := grid.Execute(ctx, c.s.strs, string(args[1]), expire, a)
		if err != nil {
			c.fail(err)
			return
		}
		c.out.int(r)
	}
}

func cmdPersist(c *client, ctx context.Context, args [][]byte) {
	r, err := grid.Execute(ctx, c.s.strs, string(args[1]), expire, expireArgs{Persist: true})
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(r)
}

func cmdTTL(unit time.Duration) func(*client, context.Context, [][]byte) {
	return func(c *client, ctx context.Context, args [][]byte) {
		r, err := grid.Execute(ctx, c.s.strs, string(args[1]), ttlLeft, struct{}{})
		if err != nil {
			c.fail(err)
			return
		}
		if r < 0 {
			c.out.int(r)
			return
		}
		// Rounded as Redis rounds: to the nearest unit.
		c.out.int((r + int64(unit)/2) / int64(unit))
	}
}

// getAll reads keys from mp, one request per owning member.
func getAll(ctx context.Context, mp *grid.Map[string, string], keys [][]byte) (map[string]string, error) {
	ks := make([]string, len(keys))
	for i, k := range keys {
		ks[i] = string(k)
	}
	return mp.GetAll(ctx, ks)
}
