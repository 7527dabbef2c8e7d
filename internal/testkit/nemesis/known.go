package nemesis

import "os"

// KnownDefects reports whether the run also fails on the defects that the
// nemesis found and that are still open (issue 15): WEIR_NEMESIS_KNOWN=1
// turns them on. Without it they are logged, not failed. The whole
// nemesis runs only with WEIR_NEMESIS=1 for now. (A pause used to undo
// an acknowledged delete now and then: a stale owner served a request
// that waited in its socket before it noticed its stall. An owner now
// checks for a stall before it serves and before it acknowledges, and a
// backup refuses the batches of a member its newer table does not name
// as owner; see member.CheckStalled and grid's backup fence.) The open
// defects:
//   - A bridge partition (two sides that each see a majority through the
//     bridging host) can lose acknowledged counter increments, and on
//     older code also undid deletes and lost puts: each side believes it
//     has the quorum, and partitions change owner on each side without a
//     state transfer from the other's replicas. The bridge fault runs
//     only with the switch on; TestSoakNemesisBridge runs bridges one
//     after another (behind WEIR_SOAK). A quorum counted only among the
//     members that follow the coordinator (branch i15-bridge) did not
//     help: views lag the network and flap, the quorum moved between the
//     sides with them, and its bridge soaks lost more than main's (see
//     notes/15-bridge.md). Tables committed by a quorum of their members,
//     and a new owner fetching the newest copy before it serves, are what
//     is left to build.
//   - The exactly-once job could fail for good ("corrupt or missing
//     chunk") after a partition or a bridge that cut off its coordinator.
//     One cause is found and fixed: the cut-off coordinator, back after the
//     heal, began a snapshot after it had handed the job over, and
//     cleared the slot of the snapshot the job's record named (dag's
//     TestHandedOverCoordinatorClearsNoSlot). Until runs show no other, a
//     job that ends failed is logged; a line committed twice, or output
//     that differs from the input while the job runs, still fails the
//     test.
func KnownDefects() bool { return os.Getenv("WEIR_NEMESIS_KNOWN") == "1" }
