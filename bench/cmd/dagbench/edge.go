package main

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/bench/internal/harness"
	"github.com/weir-dev/weir/internal/testkit/benchref"
)

// edgeWorkload measures workload 3: items of each size sent from one member
// to another over a distributed edge, against the same bytes copied over a
// plain loopback TCP connection, in turn.
func edgeWorkload(ctx context.Context, cfg config, prof *harness.Profiler) ([]harness.Section, error) {
	sec := harness.Section{Title: fmt.Sprintf("3. distributed edge, 2 members, every item crosses (%d MB encoded per run); reference: loopback TCP copy of the same bytes", cfg.edgeBytes/1e6)}
	c, err := startCluster(ctx, "edge", 2)
	if err != nil {
		return []harness.Section{sec}, err
	}
	defer c.Stop()
	var firstErr error
	prof.During("edge", func() {
		cases := []benchref.EdgeParams{{Ints: true}}
		for _, size := range cfg.edgeSizes {
			cases = append(cases, benchref.EdgeParams{Size: size})
		}
		cases = append(cases, benchref.EdgeParams{Size: cfg.edgeSizes[0], Reuse: true})
		for _, p := range cases {
			wire := p.Encoded()
			what := fmt.Sprintf("%d B string items (%d B encoded)", p.Size, wire)
			if p.Ints {
				what = fmt.Sprintf("int64 items (%d B encoded)", wire)
			}
			if p.Reuse {
				what += ", ReuseMemory"
			}
			p.N = max(cfg.edgeBytes/wire, 1)
			var weir, tcp measured
			alternate(cfg.rounds,
				func(int) {
					benchref.EdgeReceived.Store(0)
					d, err := runJob(ctx, c.Members[0], "benchref.edge", p)
					if err == nil && benchref.EdgeReceived.Load() != p.N {
						err = fmt.Errorf("received %d of %d items", benchref.EdgeReceived.Load(), p.N)
					}
					weir.add(float64(p.N), d, err)
				},
				func(int) {
					var err error
					d := reference(func() { _, err = benchref.TCPCopy(p.N * wire) })
					tcp.add(float64(p.N), d, err)
				})
			if firstErr == nil {
				firstErr = weir.err
			}
			tcpErr := tcp.err
			if tcpErr != nil {
				tcp = measured{}
			}
			sec.Rows = append(sec.Rows,
				harness.RatioRow(what+": items/s", weir.perSec(), tcp.perSec(), itemsUnit, harness.NoTarget, weir.err),
				harness.RatioRow(what+": MB/s", weir.perSec()*float64(wire), tcp.perSec()*float64(wire), mbUnit, harness.AtLeast(0.5), weir.err))
			if tcpErr != nil {
				sec.Notes = append(sec.Notes, fmt.Sprintf("TCP reference for %s failed: %v", what, tcpErr))
			}
		}
	})
	sec.Notes = append(sec.Notes, fmt.Sprintf("%d alternating rounds per size; MB/s counts the items' msgpack encoding only (weir's frame headers and credits are its own overhead); the reference's items/s is its MB/s over the encoded size; weir's time includes job set-up", cfg.rounds))
	return []harness.Section{sec}, firstErr
}
