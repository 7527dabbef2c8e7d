// Package nemesis tests weir the way Jepsen tests databases: member
// processes on separate hosts, clients recording every operation they
// invoke and how it ended, faults injected in turn, and checks of the
// recorded history against what weir promises.
//
// # Hosts
//
// Net makes one Linux network namespace per host, each joined by a veth
// pair to a bridge in the test's namespace, with addresses in
// 10.77.X.0/24 that it picks itself; it removes them when the test ends,
// and first removes those a crashed earlier run left behind. It needs
// root, ip, nft and tc (.ci/run installs iproute2 and nftables); without
// them the tests skip, saying so. All traffic stays on the bridge.
// Cluster runs one "weir member" process per host (the binary proctest
// builds, which links the test jobs and the testjobs.Add entry processor)
// with MinClusterSize, and a lite member in the test process, on the
// bridge, for the clients.
//
// Start runs the members with two backups (Backups): BackupCount must be
// at least the number of members a fault can take away at once, here the
// two of a partition's minority. With one backup (StartWith, and
// TestSoakNemesisOneBackup) some partitions have every copy in the
// minority; the majority serves them from empty meanwhile. Acknowledged
// puts and deletes must still all be kept (the minority's copies are
// merged back by version at the heal), but counters there cannot be both
// available and exact: their anomalies are reported as that known,
// documented limit (Run.Known) rather than failed.
//
// # Clients and history
//
// Workload runs writers, readers and adders through the test's lite
// member. A writer takes each key through put, put, and a while later
// delete, and then leaves it alone, so an acknowledged delete must stay
// deleted; readers read the
// keys in use; adders increment counters with an entry processor. A
// helper client, a second process started from the test binary in one
// host's namespace (HelperMain, StartHelper), puts unique keys and notes
// whether its own side of the cluster had a quorum. Each operation goes
// into a History: invocation, completion, and outcome (ok, failed for a
// read that changed nothing, unknown for a write that returned an error).
//
// # Faults
//
// PauseFault (SIGSTOP, then SIGCONT), KillFault (SIGKILL, then a restart
// under the same name), MinorityFault (a partition of two hosts, the
// coordinator's among them, from the rest), BridgeFault (two pairs that
// see one bridge host) and DegradeFault (tc netem delay and loss; loss
// only, by nftables, where the kernel has no netem). Partitions are
// nftables drop rules in the hosts' namespaces. Each is held longer than
// failure detection, healed, and followed by a wait until the cluster has
// settled.
//
// # Checks
//
//   - CheckRegisters: the final read of every key is the effect of its
//     last acknowledged write, or of a write of unknown outcome: no
//     acknowledged put lost, no acknowledged delete undone.
//   - CheckCounters: each counter lies between the sum of its
//     acknowledged increments and that plus the increments of unknown
//     outcome.
//   - CheckMinority: no write acknowledged to a client whose side had no
//     quorum.
//   - CheckLinearizable: each key's history against a register model with
//     porcupine; keys with no operation during a fault must be
//     linearizable (the grid's promise on a stable cluster), the others
//     are reported.
//   - The counting job of testjobs runs exactly-once throughout: after
//     each fault no line of its file sink is committed twice, and at the
//     end its output equals its input exactly.
//
// Anomalies name the key, the operation and the fault window it fell in;
// Summary counts operations and anomalies per fault window.
//
// TestNemesis is the quick run of the default go test (one fault of each
// kind); TestSoakNemesis cycles through the faults, with random targets,
// for as long as WEIR_SOAK says.
package nemesis
