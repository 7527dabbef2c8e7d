// Package member runs one weir cluster member: gossip membership and failure
// detection, the member-to-member transport, and the coordinator that
// assigns map partitions to members.
//
// # Starting and stopping
//
// This is the bare layer: Start runs a member with the services given to it
// (see Services below), and a Go service usually calls weir.Start, which
// gives it maps and jobs. A member leaves with Shutdown:
//
//	cfg := member.DefaultConfig()
//	cfg.Join = []string{"10.0.0.5:5701"}
//	m, err := member.Start(ctx, cfg, grid.Service(), dag.Service())
//	...
//	defer m.Shutdown(ctx)
//
// LocalConfig is the preset for members on one machine: loopback, ephemeral
// ports and a failure detector that declares a crashed member dead in about
// two seconds; tests and the examples use it. Config.Validate reports every
// problem at once.
//
// Shutdown is graceful: the member first hands its partitions to the others,
// so no data is lost even with zero backups, then leaves. Terminate stops a
// member as if it crashed.
//
// # Membership
//
// hashicorp/memberlist gossips membership and detects failures. Each member
// gossips its metadata (ID, transport address, start time, partition count,
// services) as msgpack in memberlist's node meta. A member of another
// cluster, with another partition count, or a data member serving other
// services, is refused at join with the reason in Start's
// error; with a SecretKey, gossip is encrypted and labelled with the cluster
// name, and members without the key cannot join. Members periodically rejoin
// their configured seeds, so the two sides of a long network partition find
// each other again, and a member restarted under the same name replaces its
// dead predecessor. Names are unique among live members: Start under the
// name of a live member at another address fails with ErrNameTaken, and the
// live member is left alone.
//
// # Partition tables
//
// The oldest live member is the coordinator. It computes partition tables
// (package partition) from the live data members and publishes each with a
// version higher than any it has seen; members apply only newer versions, so
// all converge on the latest. When a member dies the coordinator first
// publishes a table that promotes the surviving backups of its partitions,
// then rebalances. It waits one probe interval after the member left its
// view before doing so: when a network partition heals, gossip drops
// members that never left from each other's views for a round or two, and
// promoting such a member's backups would give its partitions two owners. Rebalancing moves data: for each batch of partitions the
// owner freezes writes to them, copies them to their new replicas (through
// every registered ReplicaService), and the table that commits the batch
// releases them. A new coordinator first adopts the newest table any member
// holds. Partitions, WaitPartitions and OnTableChange expose the table;
// WaitSettled waits until rebalancing is over and every member holds the
// same balanced table.
//
// With MinClusterSize set, a side of a network partition with fewer data
// members publishes no tables, and HasQuorum reports false so services can
// refuse writes. A member that lost the quorum keeps its table marked stale
// (TableStale) until it learns the table of a coordinator with a quorum:
// gossip may show it the others again well before that table arrives, and
// meanwhile the table it has gives it partitions the other side moved. A
// coordinator whose own table went stale adopts the newest table of the
// members it meets, which is the side that kept a quorum.
//
// # Transport
//
// Members talk over their own TCP connections: length-prefixed frames with a
// msgpack header (package internal/wire), opened by a handshake that checks
// the cluster name, protocol and partition count and, with a SecretKey,
// authenticates both sides with an HMAC challenge. A frame larger than
// MaxFrameSize is refused before its body is read; a peer that sends garbage
// is disconnected and the reason logged. Frames from many goroutines are
// coalesced into few writes.
//
// Services register handlers by route name (Host.Handle, Host.HandleStream)
// and call each other with Call (request/response, with the caller's
// deadline and cancellation carried to the handler), Send (one-way, ordered
// per sender) and OpenStream (ordered messages with byte-counted flow
// control). Errors cross the wire as *RemoteError; sentinels registered with
// RegisterErrorCode keep working with errors.Is.
//
// # Services
//
// A member does what the services given to Start make it do; nothing
// attaches itself. weir.Start gives distributed maps (grid.Service) and the
// job engine (dag.Service); member.Start with none runs membership and
// partition tables only. A Service's Attach receives the member's *Host, the
// service-facing side: routes, calls, streams, tracked goroutines, table
// hooks. The *Member that Start returns is the user's handle and has none of
// it. Members advertise their services' names in their gossip metadata, and
// a data member that serves other services than the cluster's data members
// is refused at join, with both lists in the error.
//
// # Testing time and faults
//
// The coordinator's decisions (when to act on a departure, what table to
// publish) are made by a deterministic core that is given the time, apart
// from the loop that waits and talks to the other members. That loop, the
// requests it sends, the frozen-partition watchdog and the job coordinator
// of package dag wait on Config.Clock: a test gives a clockwork.FakeClock
// and advances it instead of waiting. Config.Faults cuts the network
// between members of one process (FaultInjector); one that is also a
// FrameFaults drops or delays single transport frames, by direction, kind
// and route.
package member
