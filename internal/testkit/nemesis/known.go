package nemesis

import "os"

// KnownDefects reports whether the run also fails on the defects that the
// nemesis found and that are still open (issue 15): WEIR_NEMESIS_KNOWN=1
// turns them on. Without it they are logged, not failed. The whole
// nemesis runs only with WEIR_NEMESIS=1 for now: even without these, a
// pause still undoes an acknowledged delete now and then (a stale owner
// acknowledging in the moment before it notices its stall). The open
// defects:
//   - A bridge partition (two sides that each see a majority through the
//     bridging host) undoes acknowledged deletes and loses acknowledged
//     puts: each side believes it has the quorum. The bridge fault runs
//     only with the switch on.
//   - The exactly-once job can fail for good ("corrupt or missing chunk")
//     after a partition or a bridge that cuts off its coordinator. A job
//     that ends failed is logged; a line committed twice, or output that
//     differs from the input while the job runs, still fails the test.
func KnownDefects() bool { return os.Getenv("WEIR_NEMESIS_KNOWN") == "1" }
