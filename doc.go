// Package weir starts cluster members of weir, an in-memory data grid with
// an embedded stream-processing engine. A Go service that calls Start
// becomes a member: it holds partitions of the cluster's distributed maps,
// runs its share of every job next to the partitions the job reads and
// writes, and survives the loss of other members.
//
// The packages below it, from the top:
//
//   - sources and sinks: connectors for jobs (maps, journals, files,
//     sockets, channels);
//   - pipeline: the typed stage API — stages, windows, joins, enrichment,
//     aggregations — compiled to a DAG;
//   - dag: the DAG model, the processor contract and the engine, with job
//     submission, coordination, control and snapshots;
//   - snapshot: the barrier protocol's state machine and snapshot storage;
//   - grid: distributed maps with backups, near caches, TTL, event journals
//     and entry processors;
//   - member: gossip membership, the transport, the coordinator and its
//     partition tables; services attach to it explicitly (member.Service);
//   - partition: key to partition, and the partition table's assignment.
//
// Start composes a member in code: the grid service, then the job engine,
// then any services of your own. Nothing attaches itself on import, and a
// data member that serves other services than the cluster's data members
// is refused at join.
package weir
