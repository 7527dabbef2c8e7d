// Package dag is weir's stream-processing engine. A job is a directed
// acyclic graph of processors that runs on every data member of the
// cluster, next to the grid partitions it reads and writes. Jobs can be
// bounded (batch) or unbounded (streams), with event time and watermarks.
// They survive the loss of a member by restoring from distributed
// snapshots kept in the grid.
//
// The package holds, in the direction of Hazelcast Jet's core:
//
//   - job lifecycle: Register, Submit, Job, JobInfo and the job options;
//   - the core API: a DAG of vertices (Vertex) running Processor
//     instances, joined by typed edges (Edge[T]) with explicit routing;
//   - the execution engine that runs them, and the snapshots that make
//     them fault tolerant.
//
// Job lifecycle lives beside the engine, as in Jet: one service on each
// member both coordinates the jobs it is the coordinator of and runs its
// share of every job, and the two halves share executions, plans and
// snapshot rounds.
//
// Most jobs are written with package pipeline instead: typed stages (Map,
// GroupBy, Window, HashJoin, ...) that compile into a DAG and run on this
// engine. Use the core API for a processor that no stage provides.
// Package snapshot holds the snapshot protocol and its storage.
//
// # Jobs are code
//
// Go cannot send a closure to another process. So a job is a builder
// function, registered under a name in every binary that runs members,
// usually from an init function:
//
//	type CountParams struct {
//		Lines  []string
//		Counts string // the map to write to
//	}
//
//	func init() {
//		dag.Register("word-count", func(p CountParams) (*dag.DAG, error) {
//			pl := pipeline.New()
//			lines := pipeline.ReadFrom(pl, sources.Items(p.Lines...), pipeline.NoTimestamps[string]())
//			words := pipeline.FlatMap(lines, strings.Fields)
//			counts := pipeline.AggregateByKey(pipeline.GroupBy(words, pipeline.Identity[string]), pipeline.Count[string]())
//			pipeline.WriteTo(counts, sinks.Map[string, int64](p.Counts))
//			return pl.Compile()
//		})
//	}
//
// Submit sends the name and the msgpack encoding of the parameters to the
// cluster's coordinator. It can be called from any member, lite members
// included. Only the parameters' exported fields travel.
//
//	job, err := dag.Submit(ctx, m, "word-count", CountParams{Lines: lines, Counts: "counts"},
//		dag.WithGuarantee(dag.ExactlyOnce))
//	...
//	err = job.Wait(ctx)
//
// Here is what the coordinator does with a submission:
//
//   - It builds and validates the DAG. Submit fails with ErrUnknownJob if
//     the name is not registered there. It also fails if the builder
//     returns an error or panics, or if the DAG is invalid (empty or
//     duplicate vertex names, missing ordinals, a cycle, ...; every problem
//     is reported at once).
//   - It refuses a processing guarantee if a source cannot replay
//     (ErrNotReplayable).
//   - It plans the job: every live data member (not lite, not leaving),
//     the default local parallelism, and which member owns which partition.
//     It records the job in a replicated grid map, and Submit returns.
//   - Then, in the background, every member of the plan builds the DAG
//     from the name and parameters, and checks a fingerprint of its shape
//     against the coordinator's. A member whose binary has another version
//     of the job fails the job with ErrDefinitionMismatch.
//
// The fingerprint covers the vertex names and local parallelisms, and the
// edges: their ends and ordinals, routing, local or distributed, priority,
// item type and key type. It does not cover the code inside functions, so
// two versions that differ only there go unnoticed. Give a changed job a
// new name, or stop it before members with the new binary run it.
//
// A job's options (JobOption) are WithGuarantee, WithSnapshotInterval,
// WithLocalParallelism, WithScaleUpDelay, WithName and FromSnapshot.
// Each vertex runs LocalParallelism instances on every member of the job.
// The count comes from Vertex.LocalParallelism or Stage.LocalParallelism,
// else from WithLocalParallelism, else from the coordinator's GOMAXPROCS
// when it plans the run.
//
// # Job lifecycle
//
// A job goes Starting (being set up on the members), then Running, then
// Completing (some members' part has ended, others' not yet), then
// Completed. It can also end Failed or Cancelled. Along the way it can be
// Restarting (stopped to start again, after a cluster change or a request)
// or Suspended. Completed, Failed and Cancelled are terminal
// (JobStatus.Terminal).
//
//   - Job.Wait returns nil when the job completed, an error wrapping
//     ErrCancelled when it was cancelled, or an error carrying the failure's
//     text.
//   - Job.Info returns a JobInfo: the status and error, the members, the
//     restarts, the snapshots taken, and the snapshot the current run
//     restored.
//   - Jobs lists the cluster's jobs, newest first. JobByID gives a handle on
//     any job, from any member.
//   - Job.Cancel stops a job everywhere.
//
// A processor error or panic fails the job on every member, whatever its
// guarantee: failures in the job's own code are not retried. The exception
// is an error caused by the cluster changing under the job (a lost
// connection, an unknown member, a lost quorum). Such an error restarts the
// job instead; see Fault tolerance. When a job ends, its snapshots are
// deleted; exported copies remain.
//
// # Job control
//
//   - Job.Suspend takes a terminal snapshot (if the job has a guarantee),
//     then stops the job on every member. As in Hazelcast Jet, past a
//     terminal snapshot's barrier a processor emits nothing more (its
//     sources read nothing more), and its commit is made before the job
//     stops: every sink holds exactly the snapshot's output, committed by
//     two-phase-commit sinks, written up to the cut by idempotent map
//     sinks. Job.Resume restarts it from that snapshot, or from the
//     beginning for a job without a guarantee.
//   - Job.Restart stops the job and starts it again on the current members,
//     from its last complete snapshot.
//   - Job.ExportSnapshot copies a snapshot of the job under a name, in a
//     grid map of its own that outlives the job. For a running job it takes
//     a new snapshot; for a suspended one it uses the snapshot taken on
//     suspension. Only jobs with a guarantee take snapshots.
//   - Job.CancelAndExportSnapshot takes a terminal snapshot, exports it
//     under a name and cancels the job: the sinks hold exactly the output of
//     what the export covers.
//   - FromSnapshot starts a new job from an exported snapshot (Submit
//     fails if there is none of that name). Each of its vertices restores
//     the state that the vertex of the same name saved. Exported snapshots
//     stay until deleted (snapshot.OpenNamed, then Store.Drop).
//
// To move to a new version of a job without the two overlapping, call
// CancelAndExportSnapshot on the old job (or suspend it, export its
// snapshot and cancel it), and submit the new one with FromSnapshot. A new version keeps a vertex's state only if the vertex
// keeps its name (see package pipeline for how stages name theirs).
//
// # Metrics
//
// Job.Metrics asks every member running the job for its processors'
// counters (ProcessorMetrics). Each processor instance reports:
//
//   - the items it received and emitted, and the batches it received;
//   - the items waiting in its input queues now;
//   - its own counters (Context.Counter), such as "late", the late items
//     that a windowed aggregation counts, and "late-frames" (see Event
//     time in package pipeline).
//
// There are none while the job is suspended or once it has ended.
//
// # The core API
//
// To build a DAG by hand:
//
//   - New returns an empty DAG. AddVertex adds a vertex with a Supplier,
//     which creates one Processor per instance.
//   - Connect (or Between, for ordinals 0 to 0) joins an output ordinal of
//     one vertex to an input ordinal of another, with an item type.
//   - Configure the returned Edge with its methods, and return the DAG from
//     a registered builder. ExampleNew shows a complete job.
//
// The processor lifecycle:
//
//   - Init runs once. Obtain the Emitter of each output there, with Output.
//   - Process runs for each batch that arrives on an input, with that
//     input's ordinal. Read the batch with Items, and mark what you handled
//     with Inbox.Consume. Items left unconsumed come again in the next call.
//     Items are read-only, since a broadcast edge shares them between
//     instances. The batch is recycled once consumed, so copy what you keep.
//     Strings and byte slices that came over a distributed edge share the
//     memory of the message they arrived in (decoding does not copy them):
//     keeping one holds the whole message, some kilobytes. Copy them
//     (strings.Clone) before keeping a few out of many for long. The keyed
//     stages copy the string keys they keep in their state. Items of a type
//     without pointers (numbers, and arrays and structs of them) share
//     nothing with their message, so the receiver gives each message back
//     to the connection once decoded: such an edge allocates nothing per
//     message, and leaves the garbage collector nothing to do.
//     Edge.ReuseMemory does the same for any item type, once the consumer
//     has processed the batch, on the consumer's promise to copy whatever
//     it keeps or emits.
//   - Complete is called once every input has completed, and again until
//     it returns true. A vertex without inputs is a source and does all its
//     work in Complete. A bounded source returns true at the end; an
//     unbounded one never does.
//
// Optional interfaces add behaviour:
//
//   - EdgeCompleter: act when one input completes.
//   - WatermarkHandler: act on event time.
//   - TryProcessor: work that does not come from an input. Context.Wake
//     calls it soon, from any goroutine.
//   - Closer: release resources.
//   - Snapshotter and RestoreFinisher: state in snapshots.
//   - Committer: two-phase commit.
//
// The Context tells an instance where it runs: its indexes and the
// parallelism, the job and execution, the map partitions it is
// responsible for (Context.Partitions), a context.Context that ends with
// the job, a logger and counters. The ready-made suppliers are SliceP,
// GeneratorP, MapP, FilterP, FlatMapP and SinkP.
//
// An edge is local by default: it joins only instances on the same member.
// Edge.Distributed makes it reach the instances on every member. The
// routings:
//
//   - Unicast (the default) sends each batch to one consumer instance,
//     taking them in turn and skipping those whose queue is full.
//   - Isolated joins producer instance i to consumer instance i. It needs
//     equal parallelism on both sides, and local edges only.
//   - Partitioned (PartitionBy) sends an item by its key's grid partition.
//     The key is encoded like a grid map key. Partition p goes to the
//     member that owned p when the run started, and there to instance p mod
//     LocalParallelism. On a local edge, it goes to that instance on the
//     producer's own member.
//   - Broadcast sends every item to every instance.
//   - AllToOne sends every item to one instance: on a distributed edge,
//     instance 0 of the job's first member; on a local edge, instance 0 of
//     each member.
//
// Edge.Priority orders a vertex's inputs: nothing is read from an edge
// until every edge with a lower priority value has completed. A hash join
// builds its table this way. Snapshots wait until every instance has read
// its higher-priority inputs (JobInfo.SnapshotsPostponed counts the rounds
// skipped meanwhile), as in Hazelcast Jet: a barrier on a build side would
// hold it until the stream side delivered the barrier too, and the stream
// side is not read before the build side completes. So a job whose build
// side never ends takes no snapshots. Edge.Queue sizes the queues: batches
// per queue and items per batch, 16 and 1024 by default.
//
// # Execution model
//
// Each processor instance runs on a goroutine of its own, called a
// tasklet. Its loop does one round after another:
//
//  1. Push the batches its emitters filled.
//  2. Do any snapshot work that is due.
//  3. Call TryProcess.
//  4. Hand on a watermark if the inputs advanced one.
//  5. Take up to 64 elements from its input queues: batches go to
//     Process, control items (watermarks, barriers, ends of streams) to the
//     engine.
//  6. Call Complete, once every input has completed.
//
// When a round moves nothing, the tasklet parks. It raises a flag, looks at
// its queues once more, and sleeps until something wakes it: the other end
// of one of its queues (a push wakes the consumer, a pop that makes room
// wakes the producer), Context.Wake, or a snapshot. If nothing does, a timer
// wakes it: after 20 µs at first, doubling up to 5 ms while nothing happens,
// which is how polling sources run. Waking a tasklet that is not parked
// costs one atomic load.
//
// Local edges are bounded rings of batches. There is one ring per pair of
// producer and consumer instances, with a single producer and a single
// consumer, so a push or a pop is a few atomic loads and stores: no lock,
// no channel operation, and nothing per item. Emitter.Offer appends to the
// emitter's current batch. A batch is pushed when it is full, or at the
// start of the producer's next round, so batching adds no waiting for a
// batch to fill. Watermarks, snapshot barriers and the end of a stream
// travel in the same rings, in order with the items.
//
// A distributed edge has, on each member and for each other member, a
// sender goroutine and a receiver goroutine. The sender drains one ring per
// local producer, encodes the batches with the edge's codec, and writes
// them to a member stream. The receiver on the other member decodes them
// into its local consumers' rings. Stream flow control counts credit in
// bytes (member.Config.StreamWindow, 4 MiB by default):
//
//  1. A receiver whose consumers' rings are full stops reading.
//  2. Its stream window fills, and the sender's writes wait.
//  3. The sender stops draining, so its rings fill too.
//  4. Offer says full on the producing member.
//
// Backpressure thus reaches the sources across members. The items in
// flight stay bounded by the rings and the windows, whatever the item
// sizes.
//
// Why a goroutine per instance: Hazelcast Jet runs its tasklets
// cooperatively on a few threads, and needs other threads for code that
// blocks. Go's scheduler already multiplexes goroutines onto GOMAXPROCS
// threads, and parks one that blocks without holding up the others. So a
// goroutine per instance shares the CPUs as well, and lets a processor
// block where blocking is natural, such as a sink's Write or a service
// call. What makes goroutine pipelines slow is a channel operation, and
// often a wake-up, per item. Weir pays those per batch at most, and while
// work flows, not at all.
//
// The model was kept on measurement. BenchmarkPipeline and dagbench
// (bench/cmd/dagbench, workloads 1 to 3) run generate, map, filter and
// count on one member. When the model was settled, they measured 177M
// items/s: 0.57 times a plain Go loop calling the same functions, and 18
// times a goroutine per stage joined by buffered channels. A distributed
// edge carried 0.75 times raw TCP's throughput with 100-byte items. Run
// them again with `go test -bench BenchmarkPipeline ./dag` or `go run
// ./cmd/dagbench` in bench/.
//
// What this means for processor code:
//
//   - Offer never blocks. When it returns false, the edge is full: stop,
//     return, and offer the same item on the next call. Process returns
//     without consuming the items it could not handle. Complete returns
//     false.
//   - Emit before control items pass. The engine flushes your emitters
//     before it forwards a watermark or a snapshot barrier. It knows nothing
//     of output you hold in a slice of your own. Either consume input only
//     as its output is taken, or emit what you hold in ProcessWatermark and
//     SaveSnapshot, which may return false to be called again.
//   - Process may block, such as a sink writing to a database. Blocking
//     holds up only this instance, and through backpressure its producers.
//     But while it blocks, the instance sees neither cancellation nor
//     barriers. Pass Context.Context() to blocking calls, and keep them short
//     next to the snapshot interval.
//   - The engine calls an instance from one goroutine at a time, so its own
//     state needs no lock. Work on other goroutines hands its results back
//     through TryProcessor and Context.Wake, as pipeline.MapAsync does.
//
// # Event time
//
// Sources stamp items with event times and emit watermarks, a watermark
// being a promise that no item older than it is expected (package
// pipeline says how its sources choose times and lags, and how windows
// use them). A source instance all of whose partitions are idle emits
// Idle: it must not hold back the watermark downstream.
//
// Downstream, every instance keeps the last watermark of each input queue:
// one queue per producer instance on its member, and one per other member,
// whose receiver stands for that member's producers with their minimum.
// Its watermark is the minimum over the inputs that have neither finished
// nor gone idle, and it is Idle if all are idle. When it advances,
// WatermarkHandler.ProcessWatermark is called until it returns true. Then
// the watermark goes out on every output.
//
// # Fault tolerance
//
// The guarantees (WithGuarantee):
//
//   - None (the default): no snapshots. After a cluster change the job
//     restarts from the beginning, so sinks may see items again.
//   - AtLeastOnce: snapshots every SnapshotInterval (10 s by default), and
//     restarts from the last complete snapshot. Items after it are processed
//     again. Barriers are not aligned: a processor does not wait for its
//     slower inputs, and items that overtake the barrier on a fast input
//     land in the snapshot's state too.
//   - ExactlyOnce: the same, with aligned barriers. Every item's effect on
//     processor state, and on two-phase-commit sinks, counts once.
//
// A guarantee needs three things:
//
//   - Replayable sources. A job with a source that cannot replay is
//     refused with ErrNotReplayable. The sources package's map, map
//     journal, file, generator and Items sources replay.
//   - State kept in Snapshotter processors. Every stateful pipeline stage
//     is one.
//   - For exactly-once output, sinks that use two-phase commit (sinks.Map
//     and the merging map sinks, sinks.Files, sinks.List, sinks.Observable,
//     sinks.Collect) or are idempotent (sinks.MapImmediate, up to the
//     replay). Other sinks see the items after the last snapshot again.
//
// One snapshot, N, in the style of Chandy and Lamport:
//
//  1. The coordinator clears a storage slot and tells every member to
//     begin N.
//  2. On each member, every source instance emits what it has already
//     read, saves its positions, and emits barrier N, in band with its
//     items.
//  3. An instance with several input queues aligns barrier N with
//     snapshot.Aligner. Under exactly-once, an input that delivered N is
//     not read again until every live input has. Under at-least-once,
//     reading goes on.
//  4. Once aligned, the instance saves its state with SaveSnapshot and
//     forwards barrier N on every output. Keyed entries (SaveEntry) go back,
//     on restore, to the instance that receives their key's items, however
//     many members the job then has. Broadcast entries (SaveBroadcast) go
//     to every instance of the vertex. A distributed edge's sender aligns
//     its local producers' barriers, and sends one barrier for all of them.
//  5. Every instance acknowledges to the coordinator, listing the chunks it
//     wrote and its entry count.
//  6. The coordinator checks the snapshot by reading every chunk back, and
//     commits it: it records it in the job record, then tells the members.
//     Their Committer processors then commit; a TransactionalWriter
//     prepared on the barrier and makes its output visible now. Only a
//     snapshot the record names is committed: a coordinator that takes
//     the job over restores from its record, and replays what followed.
//     While the record cannot be written, the snapshot waits, and no other
//     begins (it would reuse the slot of the one the record names); each
//     interval tries the record again.
//
// Only one snapshot is in progress at a time. A snapshot that is not fully
// acknowledged within the longer of 30 s and three intervals is abandoned,
// the last complete one stands, and the job runs on to the next. A
// terminal snapshot that is not acknowledged in time is tried again in the
// same execution (its sources emit nothing more, so less and less is
// queued ahead of its barriers); one whose execution broke restarts the job
// from its last snapshot and is tried again, while the caller waits.
// JobInfo.LastSnapshotTook says how long the last one took.
//
// A barrier travels behind the items queued before it. So that a slow
// consumer (an expensive stage, a loaded machine) does not hold seconds or
// minutes of work ahead of it, each processor instance sizes its input
// queues by its measured throughput, as Flink's buffer debloating does: they
// hold about 200 ms of its work, and at least a batch each (see debloat.go
// for why this rather than unaligned barriers). A fast consumer's queues
// keep their full size. A distributed edge also holds up to the stream
// window (member.Config.StreamWindow, in bytes) in flight ahead of a
// barrier. Snapshots are written into two slots,
// two replicated grid maps per job with the cluster's BackupCount
// synchronous backups, so a snapshot being written never damages the last
// complete one (see package snapshot).
//
// What happens when the cluster changes:
//
//   - Restart on member loss. When a member running the job is lost, or an
//     execution stops because a connection broke, the coordinator stops the
//     job on every member. It starts it again on the live data members from
//     the last complete snapshot, retrying with a backoff while the
//     membership settles. Keyed state follows its keys to their new
//     instances.
//   - Scale-up. When data members join, a running job restarts onto them
//     after the scale-up delay (WithScaleUpDelay, DefaultScaleUpDelay;
//     negative: never).
//   - Coordinator loss. When the coordinator leaves, the new coordinator
//     takes over its jobs and restarts them from their last snapshots.
//     A job has one coordinator: its record names it, and every write of
//     the record is fenced (it expects the coordinator, execution,
//     snapshot and write stamp it last wrote or read, and an ended job's
//     record is never written again), so a member that took a job over
//     while the old coordinator still ran it (a split, a pause, a slow
//     member taken for dead) and the old coordinator cannot both run it:
//     the loser stops coordinating it. Execution numbers are claimed in the record before
//     any member hears of them, and a member refuses an execution older
//     than one it set up, or a second start of one.
//   - Quorum. With member.Config.MinClusterSize, a member that sees fewer
//     live data members than the quorum stops its executions, and restarts
//     wait until a quorum is back. The side of a network partition that
//     keeps the quorum restarts the job without the members it lost, also
//     when the coordinator is on the other side: a coordinator without a
//     quorum stops its executions and hands its jobs over, and the
//     majority's coordinator takes them over from their records. Once
//     healed, the cluster's coordinator takes them back (one more restart).
//     Exactly-once across a split needs MinClusterSize: without a quorum
//     rule both sides run on. The
//     other side cannot submit jobs either, because recording one is a grid
//     write, refused without a quorum.
//
// # Known limitations
//
//   - A processor that has finished still takes part in every later
//     snapshot: its state is saved again, off its goroutine, after Complete
//     returned true. A restore gives that state back to an instance that
//     will complete again. So a processor that emits results from its state
//     in Complete must drop the state as it emits, as pipeline.AggregateByKey does.
//     Otherwise it emits the results again after a restore.
//   - An instance whose inputs have all ended takes part in snapshots only
//     once it has finished. While it is still emitting in Complete (a large
//     pipeline.AggregateByKey or Sort), snapshots cannot complete, and time out.
//   - A restart while the job is Completing fails the job with
//     ErrMemberLost: after a member is lost, and also on a call to
//     Job.Restart. Some members' parts have ended by then, so no snapshot
//     holds the job's whole state. No final snapshot is taken at
//     completion either.
//   - When a job is cancelled or fails, two-phase-commit sinks do not
//     commit what they wrote after its last complete snapshot. sinks.Files
//     leaves those files behind, hidden.
//   - Partitioned edges route by the partition table as it was when the
//     run started. If partitions move during the run, keyed stages no longer
//     run next to their data, until the job restarts (a scale-up restarts
//     it).
//   - Suspend, Resume and ExportSnapshot wait for a snapshot in progress
//     to finish or time out. Cancel and every restart (asked for, after a
//     member is lost, or to scale up) interrupt it, unless it is already
//     committed, when its commit is delivered first.
//   - A terminal snapshot that cannot be taken (Suspend gave up) leaves the
//     job running from its last snapshot. An idempotent map sink then holds
//     output up to the failed cut until the replay passes it again.
//   - A member remembers the newest execution of every job it ran, a few
//     bytes per job, until it restarts.
//   - The fingerprint checks a DAG's shape, not its functions (see Jobs are
//     code).
package dag
