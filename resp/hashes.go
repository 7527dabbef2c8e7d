package resp

import (
	"context"
	"strconv"
	"strings"

	"github.com/tidwall/match"

	"github.com/weir-dev/weir/grid"
)

// Hash commands: a hash is the map of its name, its fields the map's keys.
func init() {
	w, r := []string{"write"}, []string{"readonly"}
	register(
		&command{name: "hget", arity: 3, run: cmdHGet, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hset", arity: -4, run: cmdHSet, flags: w, first: 1, last: 1, step: 1},
		&command{name: "hmset", arity: -4, run: cmdHSet, flags: w, first: 1, last: 1, step: 1},
		&command{name: "hdel", arity: -3, run: cmdHDel, flags: w, first: 1, last: 1, step: 1},
		&command{name: "hlen", arity: 2, run: cmdHLen, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hexists", arity: 3, run: cmdHExists, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hgetall", arity: 2, run: cmdHGetAll, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hmget", arity: -3, run: cmdHMGet, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hkeys", arity: 2, run: cmdHKeys, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hvals", arity: 2, run: cmdHVals, flags: r, first: 1, last: 1, step: 1},
		&command{name: "hscan", arity: -3, run: cmdHScan, flags: r, first: 1, last: 1, step: 1},
		&command{name: "scan", arity: -2, run: cmdScan, flags: r},
		&command{name: "dbsize", arity: 1, run: cmdDBSize, flags: r},
	)
}

func cmdHGet(c *client, ctx context.Context, args [][]byte) {
	v, ok, err := c.hashMap(args[1]).Get(ctx, string(args[2]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.maybe(v, ok)
}

// cmdHSet stores field-value pairs, each as an entry processor that says
// whether the field is new (HSET's count). HMSET answers OK.
func cmdHSet(c *client, ctx context.Context, args [][]byte) {
	if len(args)%2 != 0 {
		c.out.error("ERR wrong number of arguments for '" + strings.ToLower(string(args[0])) + "' command")
		return
	}
	mp := c.hashMap(args[1])
	var added int64
	for i := 2; i < len(args); i += 2 {
		isNew, err := grid.Execute(ctx, mp, string(args[i]), putNew, string(args[i+1]))
		if err != nil {
			c.fail(err)
			return
		}
		if isNew {
			added++
		}
	}
	if strings.EqualFold(string(args[0]), "hmset") {
		c.out.ok()
		return
	}
	c.out.int(added)
}

func cmdHDel(c *client, ctx context.Context, args [][]byte) {
	n, err := deleteKeys(ctx, c.hashMap(args[1]), args[2:])
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(n)
}

func cmdHLen(c *client, ctx context.Context, args [][]byte) {
	n, err := c.hashMap(args[1]).Len(ctx)
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(int64(n))
}

func cmdDBSize(c *client, ctx context.Context, _ [][]byte) {
	n, err := c.s.strs.Len(ctx)
	if err != nil {
		c.fail(err)
		return
	}
	c.out.int(int64(n))
}

func cmdHExists(c *client, ctx context.Context, args [][]byte) {
	_, ok, err := c.hashMap(args[1]).Get(ctx, string(args[2]))
	if err != nil {
		c.fail(err)
		return
	}
	if ok {
		c.out.int(1)
	} else {
		c.out.int(0)
	}
}

func cmdHMGet(c *client, ctx context.Context, args [][]byte) {
	vs, err := getAll(ctx, c.hashMap(args[1]), args[2:])
	if err != nil {
		c.fail(err)
		return
	}
	c.out.array(len(args) - 2)
	for _, k := range args[2:] {
		v, ok := vs[string(k)]
		c.out.maybe(v, ok)
	}
}

// entries reads a whole map (HGETALL, HKEYS, HVALS).
func entries(ctx context.Context, mp *grid.Map[string, string]) ([]grid.Entry[string, string], error) {
	var es []grid.Entry[string, string]
	for e, err := range mp.All(ctx) {
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

func cmdHGetAll(c *client, ctx context.Context, args [][]byte) {
	es, err := entries(ctx, c.hashMap(args[1]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.mapOf(len(es))
	for _, e := range es {
		c.out.bulk(e.Key)
		c.out.bulk(e.Value)
	}
}

func cmdHKeys(c *client, ctx context.Context, args [][]byte) {
	es, err := entries(ctx, c.hashMap(args[1]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.array(len(es))
	for _, e := range es {
		c.out.bulk(e.Key)
	}
}

func cmdHVals(c *client, ctx context.Context, args [][]byte) {
	es, err := entries(ctx, c.hashMap(args[1]))
	if err != nil {
		c.fail(err)
		return
	}
	c.out.array(len(es))
	for _, e := range es {
		c.out.bulk(e.Value)
	}
}

// scanArgs are SCAN's and HSCAN's options.
type scanArgs struct {
	cursor   int
	pattern  string
	count    int
	onlyKeys bool
	typ      string
}

func (c *client) parseScan(args [][]byte) (scanArgs, bool) {
	a := scanArgs{count: 10}
	n, err := strconv.Atoi(string(args[0]))
	if err != nil || n < 0 || n >= c.s.h.PartitionCount() {
		c.out.error(errBadCursor)
		return a, false
	}
	a.cursor = n
	for i := 1; i < len(args); i++ {
		opt := strings.ToUpper(string(args[i]))
		switch {
		case opt == "NOVALUES":
			a.onlyKeys = true
			continue
		case i+1 == len(args):
			c.out.error(errSyntax)
			return a, false
		}
		i++
		switch opt {
		case "MATCH":
			a.pattern = string(args[i])
		case "COUNT":
			n, err := strconv.Atoi(string(args[i]))
			if err != nil || n < 1 {
				c.out.error(errSyntax)
				return a, false
			}
			a.count = n
		case "TYPE":
			a.typ = strings.ToLower(string(args[i]))
		default:
			c.out.error(errSyntax)
			return a, false
		}
	}
	return a, true
}

// scan reads whole partitions from the cursor's on, until it has count
// entries or none are left. The cursor is the next partition: every entry
// present for the whole iteration is returned once, as Redis's SCAN
// promises (at least once there).
func scan(ctx context.Context, mp *grid.Map[string, string], parts int, a scanArgs) (next int, es []grid.Entry[string, string], err error) {
	p := a.cursor
	for ; p < parts && len(es) < a.count; p++ {
		err := mp.Partitioned().Scan(ctx, p, func(k, v string) bool {
			if a.pattern == "" || match.Match(k, a.pattern) {
				es = append(es, grid.Entry[string, string]{Key: k, Value: v})
			}
			return true
		})
		if err != nil {
			return 0, nil, err
		}
	}
	if p == parts {
		p = 0
	}
	return p, es, nil
}

func cmdScan(c *client, ctx context.Context, args [][]byte) {
	a, ok := c.parseScan(args[1:])
	if !ok {
		return
	}
	next, es, err := scan(ctx, c.s.strs, c.s.h.PartitionCount(), a)
	if err != nil {
		c.fail(err)
		return
	}
	if a.typ != "" && a.typ != "string" {
		es = nil
	}
	c.out.array(2)
	c.out.bulk(strconv.Itoa(next))
	c.out.array(len(es))
	for _, e := range es {
		c.out.bulk(e.Key)
	}
}

func cmdHScan(c *client, ctx context.Context, args [][]byte) {
	a, ok := c.parseScan(args[2:])
	if !ok {
		return
	}
	next, es, err := scan(ctx, c.hashMap(args[1]), c.s.h.PartitionCount(), a)
	if err != nil {
		c.fail(err)
		return
	}
	c.out.array(2)
	c.out.bulk(strconv.Itoa(next))
	if a.onlyKeys {
		c.out.array(len(es))
	} else {
		c.out.array(2 * len(es))
	}
	for _, e := range es {
		c.out.bulk(e.Key)
		if !a.onlyKeys {
			c.out.bulk(e.Value)
		}
	}
}
