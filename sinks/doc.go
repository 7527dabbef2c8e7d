// Package sinks holds the connectors pipelines write to: distributed maps,
// files, Kafka topics, the log, TCP sockets, and the embedding program
// (channels, observables, collectors), plus a list sink for tests.
//
// A sink is a pipeline.Sink[T]; a pipeline writes a stage into it with
// pipeline.WriteTo. Jobs are code registered by name in every binary, so a
// sink's configuration (a map name, a directory, an address) travels in
// the job's parameters:
//
//	dag.Register("fleet.km", func(p Params) (*dag.DAG, error) {
//		pl := pipeline.New()
//		trips := pipeline.ReadFrom(pl, sources.Items(p.Trips...), pipeline.NoTimestamps[Trip]())
//		km := pipeline.RollingAggregate(pipeline.GroupBy(trips, Trip.TruckID), pipeline.Sum(Trip.Kilometres))
//		pipeline.WriteTo(km, sinks.Map[string, float64](p.KmMap))
//		return pl.Compile()
//	})
//
// The examples (Map, MapImmediate, List, Observable, Channel) run such
// jobs on a one-member cluster.
//
// # Guarantees
//
// What a sink's output looks like after a failure depends on the job's
// processing guarantee (dag.WithGuarantee) and on the sink. With
// dag.ExactlyOnce the job restarts from its last snapshot and processes the
// items after it again; a sink is exactly-once if that second pass leaves
// no trace of the first:
//
//   - Map, MapWithMerging and MapWithUpdating are exactly-once with
//     dag.ExactlyOnce by two-phase commit in the grid: an instance holds
//     the writes since the last snapshot, one per key (the last value, or
//     the merged one), saves them in the snapshot on its barrier, and
//     writes them with PutAll (and DeleteAll) when the snapshot completes
//     in the whole cluster. A restart writes what its snapshot held, so the
//     map holds exactly the output of the last complete snapshot, also for
//     keys the failed execution wrote after it and the restored one has not
//     written again; the merging sinks merge each item once. Results appear
//     once per snapshot interval, and all of them when the job completes.
//     Otherwise they write each batch at once: Map is then idempotent (a
//     put written again changes nothing), the merging sinks at least once.
//   - MapImmediate writes at once whatever the guarantee, as Jet's map
//     sink does: idempotent, lower latency, but after a restart a key
//     written after the restored snapshot keeps that value until the
//     restored job writes it again.
//   - MapWithProcessor runs an entry processor on the key's owner for each
//     item: at least once whatever the guarantee.
//   - Files is exactly-once by two-phase commit: temporary files, made
//     durable on a snapshot's barrier and renamed when the snapshot
//     completes in the whole cluster (see Files for the one narrow window
//     when a member is lost while the job completes).
//   - Kafka is exactly-once by Kafka transactions tied to the snapshots:
//     a snapshot's barrier flushes the open transaction, and it commits
//     when the snapshot completes (see Kafka); at least once otherwise,
//     through the idempotent producer.
//   - Observable and List are exactly-once with dag.ExactlyOnce: they write
//     two-phase-commit markers along with the items, and their readers
//     (Observe, ReadList) count only what completed snapshots cover, or
//     everything once the job has completed. With dag.AtLeastOnce they
//     return repeats after a restart.
//   - Collect is exactly-once with dag.ExactlyOnce by two-phase commit in
//     the process that holds the Collector: an item joins
//     Collector.Items when a snapshot covering it completes (or the job
//     completes), and a restart commits what its snapshot covered and drops
//     the rest. Otherwise it is at least once, and items appear as written.
//   - Channel, Logger and Socket are at least once: after a restart, the
//     items since the last snapshot are delivered again.
//
// # Backpressure
//
// A sink that cannot keep up holds the job back rather than buffer without
// bound: its writer waits, the job's bounded queues fill, and the sources
// stop reading. Channel waits while the channel is full; Observable while
// its log holds half its buffer unread (a job writing an observable nobody
// observes stops there); Socket while the server does not read (30 s at
// most, then the job fails). Waiting ends when the job is cancelled.
//
// # Where output goes
//
// Map, MapWith* and List write into the grid, readable from any member.
// Observable delivers to an Observer on any member, lite members included,
// in this process or another. Channel and Collect deliver only within the
// process that registered the channel or made the Collector: for programs
// that run their members themselves (tests, examples, a service embedding
// its members). A Collector is the shortest way back from a job to the test
// that submitted it: NewCollector, then Collector.Wait for the job's end,
// or Collector.WaitLen for a job that does not end. Files and Logger
// write on each member, into its own directory or log. Socket connects from
// each member to the server.
package sinks
