package sinks_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// BenchmarkMapSinkCommitted measures what committing with snapshots costs a
// map sink: an exactly-once job (snapshots every 100 ms) writes n items
// into Map, which holds them per key and commits per snapshot, and, as the
// reference in the same run, the same job into MapImmediate, which writes
// each batch at once. Keys: as many as items (nothing to coalesce), or a
// thousand (each key written many times between snapshots). It reports
// each sink's time per item and the ratio committed/immediate.
func BenchmarkMapSinkCommitted(b *testing.B) {
	const n = 20_000
	for _, members := range []int{1, 3} {
		c := clustertest.Start(b, members, member.Config{})
		for _, keys := range []int{n, 1000} {
			b.Run(fmt.Sprintf("members=%d/keys=%d", members, keys), func(b *testing.B) {
				var took [2]time.Duration
				for range b.N {
					for i, kind := range []string{"immediate", "map"} {
						start := time.Now()
						j := submit(b, c.Members()[0], "sinks_test.merge", mergeParams{Src: Src{N: n}, Map: uniqueName(b), Kind: kind, Keys: keys},
							dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(100*time.Millisecond))
						require.NoError(b, j.Wait(ctxT(b, 5*time.Minute)))
						took[i] += time.Since(start)
					}
				}
				items := float64(b.N) * n
				b.ReportMetric(float64(took[0].Nanoseconds())/items, "ns/item-immediate")
				b.ReportMetric(float64(took[1].Nanoseconds())/items, "ns/item-committed")
				b.ReportMetric(float64(took[1])/float64(took[0]), "committed/immediate")
			})
		}
	}
}
