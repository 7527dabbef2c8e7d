// Package pipeline is weir's typed API for stream and batch jobs, in the
// spirit of Hazelcast Jet's pipeline and Flink's DataStream API. A Pipeline
// holds typed stages (Stage[T]) joined by functions such as Map, GroupBy,
// Window, AggregateWindow, HashJoin and MapAsync, read from a Source and
// written to a Sink. Compile turns it into a dag.DAG: a job's builder,
// registered with dag.Register, builds a pipeline and returns its DAG, and
// dag.Submit runs it.
//
//	dag.Register("word-count", func(p CountParams) (*dag.DAG, error) {
//		pl := pipeline.New()
//		lines := pipeline.ReadFrom(pl, sources.Items(p.Lines...), pipeline.NoTimestamps[string]())
//		words := pipeline.FlatMap(lines, strings.Fields)
//		counts := pipeline.AggregateByKey(pipeline.GroupBy(words, pipeline.Identity[string]), pipeline.Count[string]())
//		pipeline.WriteTo(counts, sinks.Map[string, int64](p.Counts))
//		return pl.Compile()
//	})
//
// Start here. Package dag is the engine underneath: jobs, their lifecycle
// and guarantees, and the core API of vertices and processors, for a
// processor that no stage provides. The connectors live in package sources
// (files, maps, map journals, generators, Go channels, sockets) and package
// sinks (maps, files, observables, lists, logs, channels, sockets).
//
// # Stages
//
// A Pipeline holds stages. ReadFrom starts a stage from a Source, with a
// Timestamps policy that says where event times come from. Functions take
// stages and return new ones, and WriteTo ends a stage in a Sink. Every
// item travels with its event time (Timed). Each stage becomes a vertex
// (or two), and the stage functions choose its edges:
//
//   - Stateless: Map, Filter, FlatMap, Peek and Merge run next to their
//     input, on the same member (local edges). Rebalance spreads items over
//     the cluster. RebalanceBy routes them by key.
//   - Keyed: GroupBy makes a Keyed stage, for AggregateByKey (batch: one
//     result per key when the input ends), RollingAggregate, MapStateful
//     (with StateTTL to drop idle keys) and Distinct. A key's items cross a
//     partitioned, distributed edge to one instance in the cluster: the one
//     on the member owning the key's partition in the grid, where a
//     grid.Map with the same key type keeps that key.
//   - Aggregation: an AggregateOp (Count, Sum, Min, Max, Average, TopN,
//     ToList, or your own) is a monoid with Create, Accumulate, Combine,
//     Export and an optional Deduct. Combine lets aggregations run in two
//     stages: each instance accumulates what it has, and only one partial
//     result per key crosses the network.
//   - Windows: Window (by key) or WindowAll, then AggregateWindow, with
//     Tumbling, Sliding or Session windows and optional EarlyResults.
//     LateItems gives the late items as a stage. WindowJoin co-groups two
//     keyed streams per window. TopNPerWindow ranks each window's results
//     and keeps the top n, ties at the nth place included. See Event time.
//   - Joins: HashJoin and HashJoin2 read their batch side first (edge
//     priority) and broadcast it to every instance. The stream side then
//     flows through without moving between members.
//   - Enrichment: LookupMap runs on the member owning each key and reads a
//     whole batch with one GetAll per member. LookupMapCached reads through
//     a near cache where the items are. MapUsingService gives each instance
//     a service and calls it, possibly blocking. MapAsync and MapAsyncBatch
//     call a service asynchronously. Each instance has at most MaxInFlight
//     calls in flight, each with a timeout and retries. Results keep the
//     items' order unless Unordered is set. A watermark waits for the calls
//     before it.
//   - Batches: Sort gathers everything on one instance. AggregateAll gives
//     one result for the whole input.
//
// Sources come from package sources, or from NewSource with a Reader of
// your own. A Reader that implements Positioned, declared with Replayable,
// lets a job have a processing guarantee. Sinks come from package sinks, or
// from NewSink with a SinkWriter. A sink is local to each member by
// default. With Sink.Singleton one writer in the cluster receives
// everything. With PartitionSink each key goes to the writer on the member
// that owns it. A TransactionalWriter takes part in two-phase commit.
//
// # Event time
//
// A source stage's Timestamps says where event times come from:
//
//   - NoTimestamps: no event time and no watermarks; no windows.
//   - EventTime: the time comes from each item, with an allowed lag.
//   - IngestionTime: the time an item was read.
//   - NativeTime: the time the Reader gives (SourceItem.TS).
//
// A watermark is a promise that no item older than it is expected. Each
// source instance keeps the highest time seen in each of its source
// partitions (Reader.Partitions, SourceItem.Partition). Its watermark is
// the lowest of those highs over the partitions that are not idle, minus
// the allowed lag. The watermark never goes back. It is emitted just before
// the item that advanced it, and only when it crosses a multiple of
// Timestamps.Throttle (1 ms by default). A partition that has delivered
// nothing for Timestamps.IdleTimeout (5 s by default) is idle, so that a
// quiet partition does not stop windows from closing. When every
// partition of an instance is idle, the instance emits dag.Idle. A
// partition counts again as soon as it delivers.
//
// Downstream, each instance's watermark is the lowest of its inputs' (see
// dag's Event time), and a stage acts on it when it advances.
//
// The first windowing stage judges lateness. An item whose time is below
// the last watermark that stage processed is late. Late items are counted
// in the stage's "late" counter (dag.Job.Metrics). They are dropped, or
// delivered to LateItems if the pipeline uses it. For tumbling and sliding
// windows without early results, that stage is the accumulating one, next
// to the input. Snapshots keep the watermark each instance of that stage
// had reached. A restored stage judges lateness from the lowest of them,
// not from the first watermark of the new run (the sources rebuild theirs
// from the items they read, so it starts low). Items that come after a
// restore for windows emitted before it are therefore late too.
//
// The combining stage's watermark is the lowest of the accumulating
// instances', leaving out those whose inputs are all idle. Such an instance
// keeps its frames and its watermark, which may be behind the others'.
// When its inputs deliver again, it can hand on frames (partial
// aggregates) of windows the combining stage emitted meanwhile. Their
// items miss those windows without being counted late. The combining
// stage counts each such frame in its "late-frames" counter.
//
// The window kinds:
//
//   - Tumbling: fixed size, no overlap.
//   - Sliding: fixed size, a new window every slide. The size must be a
//     multiple of the slide.
//   - Session: a key's items closer together than a gap. A session ends gap
//     after its last item.
//
// A WindowResult carries Start, End (exclusive), Key, Value and Early. The
// window's end is also its event time downstream. A window is emitted when
// the watermark reaches its end; when a bounded input ends, every window
// left is emitted. EarlyResults(d) also emits, every d of wall-clock time,
// the running value of every window not yet closed, with Early set.
// Tumbling and sliding windows aggregate in two stages. The accumulating
// stage next to the input accumulates each key's items per frame (one slide).
// The frames of a key then meet on the instance owning the key, which
// combines them into windows, deducting the frame that leaves when the
// AggregateOp has Deduct. Sessions, and windows with early results,
// aggregate in one stage after the partitioned edge. MapStateful's StateTTL
// also runs on event time: a key's state is dropped once the watermark
// passes its last item plus the TTL.
//
// # Versions and state
//
// Every stateful stage is a dag.Snapshotter: under a processing guarantee
// its state goes into the job's snapshots, under its vertex's name (see
// Fault tolerance in package dag). A pipeline's vertex names come from its
// source and sink names and from its stage kinds ("map", "accumulate",
// "window-combine", ...). A repeated kind is numbered ("map-2"). So a new
// version of a job, started with dag.FromSnapshot from the old one's
// exported snapshot, keeps its state only if its stateful stages keep their
// names. Adding a stage of the same kind before one of them shifts the
// numbering.
//
// Each processor's SaveSnapshot and RestoreSnapshot sit beside its type.
// Keyed state is saved under its key (dag.SaveEntry), so a restart on
// another number of members restores it to the instance that receives the
// key's items; source positions, hash-join tables and a sort's items are
// broadcast (dag.SaveBroadcast), each instance keeping what is its own.
//
// # Known limitations
//
//   - Tumbling and sliding windows without early results judge lateness
//     per accumulating instance. Items that an instance finds on time after
//     its inputs were all idle can belong to windows the combining stage
//     has emitted (see Event time), and so can items replayed after a
//     restore from an at-least-once snapshot. Their frames are counted in
//     "late-frames", not in "late", and the items never reach LateItems.
package pipeline
