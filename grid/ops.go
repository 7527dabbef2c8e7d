package grid

// Routes served by every member's grid service.
const (
	routeGet       = "map.get"       // single-key read on the owner (inline)
	routeOp        = "map.op"        // single-key write on the owner
	routeBatch     = "map.batch"     // several keys owned by one member
	routeBackup    = "map.backup"    // owner -> backup replication (inline, ordered)
	routeLen       = "map.len"       // entries owned by a member
	routeScan      = "map.scan"      // entries of some partitions
	routeClear     = "map.clear"     // clear owned partitions
	routeJournal   = "map.journal"   // read a partition's journal
	routeEvents    = "map.events"    // owner -> subscribers: invalidations and events (one-way)
	routeSubscribe = "map.subscribe" // a member wants invalidations or events of a map
	routeMerge     = "map.merge"     // entries from a healed partition's former owner
	routeHello     = "map.hello"     // a member (re)discovered this one and holds none of its subscriptions
)

type opCode uint8

const (
	opGet         opCode = iota + 1
	opPut                // store; Found tells whether it replaced
	opPutIfAbsent        // store unless present; Applied tells whether it did
	opReplace            // store if present
	opCAS                // store if the current value equals Old
	opDelete             // remove; Found tells whether it was there
	opDeleteIf           // remove if the current value equals Old
	opExecute            // run entry processor Proc with argument Value
	opExpire             // sweeper: remove if expired (internal)
	opEvict              // eviction: remove (internal)
	opMerge              // merge of copies: store if newer than all this copy knows of the key (internal)
	opMergeDelete        // merge of copies: delete if newer than all this copy knows of the key (internal)
)

func (o opCode) String() string {
	names := [...]string{"", "get", "put", "put-if-absent", "replace", "compare-and-set", "delete", "delete-if", "execute", "expire", "evict", "merge", "merge-delete"}
	if int(o) < len(names) {
		return names[o]
	}
	return "op?"
}

// opRequest is one single-key operation sent to a partition's owner.
type opRequest struct {
	Map   string      `msgpack:"m"`
	Op    opCode      `msgpack:"o"`
	Part  int         `msgpack:"p"`
	Key   []byte      `msgpack:"k"`
	Value []byte      `msgpack:"v,omitempty"`
	Old   []byte      `msgpack:"x,omitempty"`
	TTL   int64       `msgpack:"t,omitempty"` // ns; 0: the map's default; <0: none
	Proc  string      `msgpack:"f,omitempty"`
	Req   reqID       `msgpack:"r,omitempty"`
	Table uint64      `msgpack:"b,omitempty"` // caller's table version
	Cfg   storeConfig `msgpack:"c,omitempty"`
	// Near: the caller caches the result; the owner subscribes it to the
	// map's invalidations before answering.
	Near bool `msgpack:"n,omitempty"`
	// Upd and Exp carry a merged entry's (or tombstone's) version and expiry.
	Upd int64 `msgpack:"u,omitempty"`
	Exp int64 `msgpack:"e,omitempty"`
	// Retry: an earlier attempt of this request failed in a way that may
	// have applied it (its backups did not answer, its connection broke).
	Retry bool `msgpack:"y,omitempty"`
}

type opResponse struct {
	Found   bool   `msgpack:"f,omitempty"`
	Applied bool   `msgpack:"a,omitempty"`
	Value   []byte `msgpack:"v,omitempty"`
	// Seq is the partition's write sequence when a read was served; a near
	// cache drops the result if an invalidation with a later sequence has
	// arrived.
	Seq uint64 `msgpack:"s,omitempty"`
}

type batchRequest struct {
	Ops []opRequest `msgpack:"o"`
}

type opResult struct {
	Resp    opResponse `msgpack:"r"`
	Code    string     `msgpack:"c,omitempty"`
	Message string     `msgpack:"e,omitempty"`
}

type batchResponse struct {
	Results []opResult `msgpack:"r"`
}

// wireRecord is a record as it travels to backups and new replicas, or a
// tombstone (Del, with its version in Upd) in merges and migrations.
type wireRecord struct {
	Key []byte `msgpack:"k"`
	Val []byte `msgpack:"v"`
	Upd int64  `msgpack:"u"`
	Exp int64  `msgpack:"e,omitempty"`
	Seq uint64 `msgpack:"s,omitempty"`
	Del bool   `msgpack:"x,omitempty"`
}

// backupItem replicates one applied change to a backup.
type backupItem struct {
	Map     string      `msgpack:"m"`
	Part    int         `msgpack:"p"`
	Cfg     storeConfig `msgpack:"c,omitempty"`
	Seq     uint64      `msgpack:"s"`
	Key     []byte      `msgpack:"k"`
	Rec     *wireRecord `msgpack:"r,omitempty"` // nil: the key was removed
	Tomb    int64       `msgpack:"d,omitempty"` // removed by a delete of this version: keep a tombstone
	Event   *rawEvent   `msgpack:"j,omitempty"` // journal event, with its sequence
	Req     reqID       `msgpack:"q,omitempty"`
	Outcome *outcome    `msgpack:"o,omitempty"`
}

type backupBatch struct {
	Items []backupItem `msgpack:"i"`
}

type lenRequest struct {
	Map   string `msgpack:"m"`
	Parts []int  `msgpack:"p"`
}

type lenResponse struct {
	Count    int   `msgpack:"c"`
	NotOwned []int `msgpack:"n,omitempty"`
}

type scanRequest struct {
	Map   string `msgpack:"m"`
	Parts []int  `msgpack:"p"`
}

type scanResponse struct {
	Entries  []wireRecord `msgpack:"e"`
	NotOwned []int        `msgpack:"n,omitempty"`
}

type clearRequest struct {
	Map   string `msgpack:"m"`
	Parts []int  `msgpack:"p"`
}

type journalRequest struct {
	Map   string `msgpack:"m"`
	Part  int    `msgpack:"p"`
	From  uint64 `msgpack:"f"`
	Max   int    `msgpack:"x"`
	Table uint64 `msgpack:"b"`
}

type journalResponse struct {
	Events []rawEvent `msgpack:"e"`
	Next   uint64     `msgpack:"n"`
	Oldest uint64     `msgpack:"o"`
	// Stale: the read asked for events older than Oldest.
	Stale bool `msgpack:"x,omitempty"`
}

// eventItem is one change sent to a subscriber: always the key and write
// sequence (for near-cache invalidation), and the full event for listeners.
type eventItem struct {
	Part  int       `msgpack:"p"`
	Seq   uint64    `msgpack:"s"`
	Key   []byte    `msgpack:"k"`
	Event *rawEvent `msgpack:"e,omitempty"`
}

type eventsMsg struct {
	Map   string      `msgpack:"m"`
	Items []eventItem `msgpack:"i"`
}

type subscribeMsg struct {
	Map    string `msgpack:"m"`
	Kinds  uint8  `msgpack:"k"` // subNear | subEvents; 0 unsubscribes
	Member string `msgpack:"w"`
}

type mergeMsg struct {
	Map     string       `msgpack:"m"`
	Part    int          `msgpack:"p"`
	Cfg     storeConfig  `msgpack:"c,omitempty"`
	Entries []wireRecord `msgpack:"e"`
}
