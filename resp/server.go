package resp

import (
	"context"
	"crypto/subtle"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Connection and server commands.
func init() {
	f := []string{"fast"}
	register(
		&command{name: "ping", arity: -1, run: cmdPing, subscribed: true, flags: f},
		&command{name: "echo", arity: 2, run: cmdEcho, flags: f},
		&command{name: "hello", arity: -1, run: cmdHello, noAuth: true, flags: f},
		&command{name: "auth", arity: -2, run: cmdAuth, noAuth: true, flags: f},
		&command{name: "quit", arity: -1, run: cmdQuit, noAuth: true, subscribed: true, flags: f},
		&command{name: "select", arity: 2, run: cmdSelect, flags: f},
		&command{name: "client", arity: -2, run: cmdClient},
		&command{name: "info", arity: -1, run: cmdInfo},
		&command{name: "command", arity: -1, run: cmdCommand},
		&command{name: "config", arity: -2, run: cmdConfig},
	)
}

func cmdPing(c *client, _ context.Context, args [][]byte) {
	if len(args) > 2 {
		c.out.error("ERR wrong number of arguments for 'ping' command")
		return
	}
	if len(c.subs) > 0 && c.out.proto == 2 {
		// Subscribed in RESP2: the reply looks like a message.
		c.out.array(2)
		c.out.bulk("pong")
		if len(args) == 2 {
			c.out.bulk(string(args[1]))
		} else {
			c.out.bulk("")
		}
		return
	}
	if len(args) == 2 {
		c.out.bulk(string(args[1]))
		return
	}
	c.out.simple("PONG")
}

func cmdEcho(c *client, _ context.Context, args [][]byte) { c.out.bulk(string(args[1])) }

func cmdQuit(c *client, _ context.Context, _ [][]byte) {
	c.out.ok()
	c.quit = true
}

func cmdSelect(c *client, _ context.Context, args [][]byte) {
	if string(args[1]) != "0" {
		c.out.error(errNotAllowed)
		return
	}
	c.out.ok()
}

// authenticate checks a password against the cluster's secret. Redis's
// user name, if given, must be "default".
func (c *client) authenticate(user, password []byte) bool {
	if len(c.s.secret) == 0 {
		return false
	}
	if user != nil && string(user) != "default" {
		return false
	}
	return subtle.ConstantTimeCompare(password, c.s.secret) == 1
}

func cmdAuth(c *client, _ context.Context, args [][]byte) {
	if len(args) > 3 {
		c.out.error(errSyntax)
		return
	}
	if len(c.s.secret) == 0 {
		c.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	var user []byte
	if len(args) == 3 {
		user = args[1]
	}
	if !c.authenticate(user, args[len(args)-1]) {
		c.out.error("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	c.authed = true
	c.out.ok()
}

// cmdHello is HELLO [protover [AUTH user pass] [SETNAME name]]: it
// chooses RESP2 or RESP3 and answers with the server's description.
func cmdHello(c *client, _ context.Context, args [][]byte) {
	proto := c.out.proto
	if len(args) > 1 {
		n, err := strconv.Atoi(string(args[1]))
		if err != nil {
			c.out.error("ERR Protocol version is not an integer or out of range")
			return
		}
		if n != 2 && n != 3 {
			c.out.error("NOPROTO unsupported protocol version")
			return
		}
		proto = n
	}
	name, setName := c.name, false
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToUpper(string(args[i])); {
		case opt == "AUTH" && i+2 < len(args):
			if !c.authenticate(args[i+1], args[i+2]) {
				c.out.error("WRONGPASS invalid username-password pair or user is disabled.")
				return
			}
			c.authed = true
			i += 2
		case opt == "SETNAME" && i+1 < len(args):
			name, setName = string(args[i+1]), true
			i++
		default:
			c.out.error(errSyntax)
			return
		}
	}
	if !c.authed {
		c.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		c.name = name
	}
	c.out.proto = proto
	c.out.mapOf(7)
	c.out.bulk("server")
	c.out.bulk("redis")
	c.out.bulk("version")
	c.out.bulk(redisVersion)
	c.out.bulk("proto")
	c.out.int(int64(proto))
	c.out.bulk("id")
	c.out.int(c.id)
	c.out.bulk("mode")
	c.out.bulk("standalone")
	c.out.bulk("role")
	c.out.bulk("master")
	c.out.bulk("modules")
	c.out.array(0)
}

var pid = os.Getpid()

// redisVersion is the Redis version whose commands weir answers as Redis
// does, for clients that look at it.
const redisVersion = "7.2.0"

func cmdClient(c *client, _ context.Context, args [][]byte) {
	switch strings.ToUpper(string(args[1])) {
	case "SETNAME":
		if len(args) != 3 {
			c.out.error("ERR wrong number of arguments for 'client|setname' command")
			return
		}
		if strings.ContainsAny(string(args[2]), " \n") {
			c.out.error("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[2])
		c.out.ok()
	case "GETNAME":
		c.out.maybe(c.name, c.name != "")
	case "ID":
		c.out.int(c.id)
	case "SETINFO":
		c.out.ok() // library name and version: accepted, not kept
	default:
		c.out.error("ERR unknown subcommand '" + clip(string(args[1])) + "'. Try CLIENT HELP.")
	}
}

// cmdInfo is INFO [section ...]: server, clients, memory, stats,
// keyspace, and cluster, which lists weir's members.
func cmdInfo(c *client, ctx context.Context, args [][]byte) {
	want := func(s string) bool {
		if len(args) == 1 {
			return true
		}
		for _, a := range args[1:] {
			if n := strings.ToLower(string(a)); n == s || n == "all" || n == "everything" || n == "default" {
				return true
			}
		}
		return false
	}
	s := c.s
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !want(strings.ToLower(name)) {
			return
		}
		fmt.Fprintf(&b, "# %s\r\n", name)
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
		b.WriteString("\r\n")
	}
	section("Server",
		"redis_version:"+redisVersion,
		"weir_member:"+s.h.Name(),
		"weir_member_id:"+s.h.ID(),
		"redis_mode:standalone",
		"os:"+runtime.GOOS+" "+runtime.GOARCH,
		"arch_bits:64",
		"multiplexing_api:goroutines",
		"go_version:"+runtime.Version(),
		"process_id:"+strconv.Itoa(pid),
		"tcp_port:"+port(s.Addr()),
		"uptime_in_seconds:"+strconv.Itoa(int(time.Since(s.start).Seconds())),
	)
	section("Clients",
		"connected_clients:"+strconv.Itoa(s.clientCount()),
		"maxclients:"+strconv.Itoa(s.limits.MaxClients),
	)
	if want("memory") {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		section("Memory",
			"used_memory:"+strconv.FormatUint(ms.HeapAlloc, 10),
			"used_memory_rss:"+strconv.FormatUint(ms.Sys, 10),
			"total_system_memory:0",
		)
	}
	section("Stats",
		"total_connections_received:"+strconv.FormatInt(s.connections.Load(), 10),
		"total_commands_processed:"+strconv.FormatInt(s.commands.Load(), 10),
		"rejected_connections:"+strconv.FormatInt(s.rejected.Load(), 10),
	)
	if want("keyspace") {
		n, err := s.strs.Len(ctx)
		if err != nil {
			c.fail(err)
			return
		}
		section("Keyspace", "db0:keys="+strconv.Itoa(n)+",expires=0,avg_ttl=0")
	}
	if want("cluster") {
		ms := s.h.Members()
		lines := []string{"cluster_enabled:0", "weir_members:" + strconv.Itoa(len(ms))}
		t := s.h.Partitions()
		for i, m := range ms {
			owned := 0
			if t != nil {
				owned = len(t.Owned(m.ID))
			}
			lines = append(lines, fmt.Sprintf("weir_member%d:name=%s,id=%s,transport=%s,lite=%t,partitions=%d", i, m.Name, m.ID, m.TransportAddr, m.Lite, owned))
		}
		section("Cluster", lines...)
	}
	c.out.bulk(b.String())
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return "0"
}

// cmdCommand is COMMAND, COMMAND COUNT, COMMAND INFO and COMMAND DOCS:
// enough for redis-cli's hints and clients that look commands up.
func cmdCommand(c *client, _ context.Context, args [][]byte) {
	names := commandNames()
	if len(args) == 1 {
		c.out.array(len(names))
		for _, n := range names {
			c.commandInfo(commands[n])
		}
		return
	}
	switch strings.ToUpper(string(args[1])) {
	case "COUNT":
		c.out.int(int64(len(names)))
	case "INFO":
		c.out.array(len(args) - 2)
		for _, a := range args[2:] {
			if cmd := lookup(a); cmd != nil {
				c.commandInfo(cmd)
			} else {
				c.out.null()
			}
		}
	case "DOCS":
		c.out.mapOf(0)
	default:
		c.out.error("ERR unknown subcommand '" + clip(string(args[1])) + "'. Try COMMAND HELP.")
	}
}

func commandNames() []string {
	var names []string
	for n := range commands {
		if n == strings.ToLower(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func (c *client) commandInfo(cmd *command) {
	c.out.array(6)
	c.out.bulk(cmd.name)
	c.out.int(int64(cmd.arity))
	c.out.array(len(cmd.flags))
	for _, f := range cmd.flags {
		c.out.simple(f)
	}
	c.out.int(int64(cmd.first))
	c.out.int(int64(cmd.last))
	c.out.int(int64(cmd.step))
}

// cmdConfig is CONFIG GET, for tools that ask (redis-benchmark asks for
// save and appendonly): weir persists nothing, and has no other Redis
// settings. CONFIG SET is refused.
func cmdConfig(c *client, _ context.Context, args [][]byte) {
	if !strings.EqualFold(string(args[1]), "get") {
		c.out.error("ERR CONFIG " + clip(strings.ToUpper(string(args[1]))) + " is not supported by weir")
		return
	}
	settings := map[string]string{"save": "", "appendonly": "no", "databases": "1"}
	var pairs []string
	for _, a := range args[2:] {
		if v, ok := settings[strings.ToLower(string(a))]; ok {
			pairs = append(pairs, strings.ToLower(string(a)), v)
		}
	}
	c.out.mapOf(len(pairs) / 2)
	for _, p := range pairs {
		c.out.bulk(p)
	}
}
