package resp

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/weir-dev/weir/grid"
)

// command is one command the endpoint serves.
type command struct {
	name string
	// arity is Redis's: n > 0 takes exactly n arguments (the name
	// included), n < 0 at least -n.
	arity int
	run   func(c *client, ctx context.Context, args [][]byte)
	// noAuth: allowed before AUTH (AUTH, HELLO, QUIT).
	noAuth bool
	// subscribed: allowed while subscribed in RESP2.
	subscribed bool
	// flags and keys as COMMAND reports them.
	flags             []string
	first, last, step int
}

// commands by name, lower case and upper case, so that the common
// spellings are found without converting the name.
var commands = map[string]*command{}

func register(cs ...*command) {
	for _, cmd := range cs {
		commands[cmd.name] = cmd
		commands[strings.ToUpper(cmd.name)] = cmd
	}
}

func lookup(name []byte) *command {
	if cmd, ok := commands[string(name)]; ok {
		return cmd
	}
	return commands[strings.ToLower(string(name))]
}

func (c *client) exec(ctx context.Context, args [][]byte) {
	c.s.commands.Add(1)
	if len(args) > c.s.limits.MaxArgs {
		c.out.error("ERR Protocol error: too many arguments")
		return
	}
	cmd := lookup(args[0])
	if cmd == nil {
		c.out.error("ERR unknown command '" + clip(string(args[0])) + "', with args beginning with: " + argsPreview(args[1:]))
		return
	}
	if !c.authed && !cmd.noAuth {
		c.out.error("NOAUTH Authentication required.")
		return
	}
	if len(c.subs) > 0 && c.out.proto == 2 && !cmd.subscribed {
		c.out.error("ERR Can't execute '" + cmd.name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
		return
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity) {
		c.out.error("ERR wrong number of arguments for '" + cmd.name + "' command")
		return
	}
	cmd.run(c, ctx, args)
}

func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

func argsPreview(args [][]byte) string {
	var b strings.Builder
	for i, a := range args {
		if i == 8 || b.Len() > 128 {
			break
		}
		b.WriteString("'" + clip(string(a)) + "' ")
	}
	return b.String()
}

// fail answers err as Redis clients expect it.
func (c *client) fail(err error) {
	switch {
	case errors.Is(err, grid.ErrWrongType):
		c.out.error("WRONGTYPE Operation against a key holding the wrong kind of value")
	case errors.Is(err, grid.ErrNoQuorum):
		c.out.error("CLUSTERDOWN write refused: this side of the cluster has no quorum")
	case errors.Is(err, grid.ErrClosed):
		c.out.error("ERR the member is shutting down")
	default:
		c.out.error("ERR " + err.Error())
	}
}

const (
	errSyntax     = "ERR syntax error"
	errNotInt     = errNotInteger
	errBadCursor  = "ERR invalid cursor"
	errBadExpire  = "ERR invalid expire time in '%s' command"
	errNotAllowed = "ERR DB index is out of range"
)

func parseInt(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// hashMap is the map a hash command names.
func (c *client) hashMap(name []byte) *grid.Map[string, string] {
	if string(name) == DefaultMap {
		return c.s.strs
	}
	return grid.GetMap[string, string](c.s.h, string(name))
}
