package partition

import (
	"fmt"
	"testing"
)

// memberNames returns k distinct, sorted member names.
func memberNames(k int) []string {
	s := make([]string, k)
	for i := range s {
		s[i] = fmt.Sprintf("m%03d", i)
	}
	return s
}

// BenchmarkRebalance measures the coordinator's work when one member joins a
// balanced cluster, the common case, and when one crashes.
func BenchmarkRebalance(b *testing.B) {
	for _, c := range []struct{ n, m, backups int }{
		{DefaultCount, 20, 2},
		{DefaultCount, 50, 2},
		{1024, 50, 3},
	} {
		all := memberNames(c.m + 1)
		cur := Initial(c.n, all[:c.m], c.backups)
		b.Run(fmt.Sprintf("join/n=%d/m=%d/b=%d", c.n, c.m, c.backups), func(b *testing.B) {
			for b.Loop() {
				Rebalance(cur, all, c.backups)
			}
		})
		live := all[1:c.m]
		promoted := Promote(cur, live)
		b.Run(fmt.Sprintf("crash/n=%d/m=%d/b=%d", c.n, c.m, c.backups), func(b *testing.B) {
			for b.Loop() {
				Rebalance(promoted, live, c.backups)
			}
		})
	}
	b.Run("initial/n=271/m=20/b=2", func(b *testing.B) {
		members := memberNames(20)
		for b.Loop() {
			Initial(DefaultCount, members, 2)
		}
	})
}
