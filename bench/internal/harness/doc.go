// Package harness is what the benchmark programs gridbench and dagbench
// share: the scaffolding around a measurement, not the measurement itself.
//
//   - [Program] runs the workloads chosen on the command line, collects
//     their [Section]s and failures, and prints the report.
//   - [Section], [RatioRow] and [CheckRow] make up that report: one table
//     in which each row sets weir's number against a reference measured in
//     the same run, with the ratio weir/reference, the [Target] and whether
//     it was met.
//   - [StartCluster] starts members in this process and waits until the
//     cluster is stable, so that no join or migration falls in a
//     measurement; [Cluster.Stop] terminates them.
//   - [Profiler] writes a CPU profile of each workload and, if asked, a
//     heap profile.
//
// What differs between the programs stays in them: their workloads, the
// units their numbers print in, the pprof labels their goroutines carry,
// and the options they pass here (lite members, full replication, LAN
// gossip timings, a heap profile, how a missing ratio prints).
//
// A program's main, in short:
//
//	prog := &harness.Program{Name: "gridbench", Workloads: cfg.workloads,
//		Profiler: &harness.Profiler{CPUPrefix: cfg.cpuProfile}}
//	prog.Run(ctx, "single", func() ([]harness.Section, error) { return single(ctx, prog.Profiler) })
//	if !prog.Finish(ctx, os.Stdout) {
//		os.Exit(1)
//	}
package harness
