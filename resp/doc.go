// Package resp serves weir's maps to any Redis client: every member can
// listen for RESP2 and RESP3 connections (member.Config.RESPAddr, or
// "weir member --resp ADDR"), and answers as Redis does, for the commands
// below, whichever member owns the keys.
//
//	cfg := weir.LocalConfig()
//	cfg.RESPAddr = "127.0.0.1:6380" // weir.Start then attaches resp.Service
//	m, err := weir.Start(ctx, cfg)
//	// redis-cli -p 6380 HSET vehicles truck-7 18000
//	v, ok, err := grid.GetMap[string, string](m, "vehicles").Get(ctx, "truck-7")
//
// # Keys and maps
//
// The string commands (GET, SET with EX/PX/EXAT/PXAT/KEEPTTL/NX/XX/GET,
// DEL, UNLINK, EXISTS, MGET, MSET, EXPIRE and PEXPIRE with NX/XX/GT/LT,
// TTL, PTTL, PERSIST, INCR, INCRBY, DECR, DECRBY, APPEND, GETDEL, SCAN,
// DBSIZE) work on one map, DefaultMap. A hash is the map of its name (HGET,
// HSET, HMSET, HDEL, HLEN, HEXISTS, HGETALL, HMGET, HKEYS, HVALS, HSCAN),
// its fields the map's keys: a Go service's grid.GetMap[string,
// string](m, "vehicles") and HGET vehicles truck-7 read the same entry.
// Values are msgpack strings; one a Go program stored with another type is
// answered with -WRONGTYPE. Expiry is the map's per-entry TTL.
//
// Also: PING, ECHO, HELLO (2 or 3, with AUTH and SETNAME), AUTH, SELECT 0,
// CLIENT SETNAME/GETNAME/ID/SETINFO, INFO (server, clients, memory, stats,
// keyspace, and a cluster section listing weir's members), COMMAND (with
// COUNT, INFO and DOCS, enough for redis-cli), QUIT, and SUBSCRIBE and
// UNSUBSCRIBE: a channel is a map's name, and a subscriber receives each
// change of that map as a JSON message ({"type":"added","key":...,
// "value":...}), at most once, as Redis delivers pub/sub.
//
// # Semantics
//
//   - A key another member owns is served by that member over weir's
//     transport, where requests from all clients share one connection per
//     member. A run of GETs, SETs or increments (INCR, INCRBY, DECR,
//     DECRBY) in a pipeline goes to the owners together, one request per
//     owning member (grid's GetAll, PutAll and ExecuteAll); replies come
//     in the order of the commands.
//   - Commands that read and change a key in one step (INCR, APPEND, SET
//     with NX/XX/GET, GETDEL, DEL, HSET, EXPIRE, PERSIST) are entry
//     processors on the key's owner: atomic, and applied once even when the
//     member retries them after the owner died (the request ID travels with
//     the write to the backups).
//   - Writes return once the owner's backups have them: with one backup, a
//     crash of one member loses no acknowledged write.
//   - With a cluster secret (member.Config.SecretKey), a client must
//     authenticate with it (AUTH secret, or HELLO 3 AUTH default secret)
//     before anything else: -NOAUTH otherwise.
//
// Options.NearCache (weir member --resp-near-cache) serves GETs of keys
// other members own from a copy kept on this member once read: a client
// reads its own writes at once, another member's writes once the owner's
// invalidation arrives. Off by default, since Redis has no such lag.
//
// # Hostile clients
//
// Limits (in Options) bound what one client can make a member hold: a command
// announcing more than MaxArgs arguments or a bulk longer than MaxRequest
// is refused as soon as its header arrives, before anything is allocated
// for it; a command (or inline command) larger than its limit once that
// much has arrived; a client that sends without reading its replies is
// held back by TCP and disconnected after WriteTimeout; a subscriber
// PubSubBuffer events behind is disconnected; clients beyond MaxClients
// are refused. Each refusal is an -ERR reply, then the connection closes.
//
// The protocol itself is read and written with github.com/tidwall/redcon's
// reader (its writer knows RESP2 only, so replies, which differ in RESP3
// for nulls, maps and pushes, are written by this package).
package resp
