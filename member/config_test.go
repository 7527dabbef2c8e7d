package member_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
)

// A Config written from scratch, without a preset, gets the documented one
// backup; NoBackups, and only it, gets none.
func TestBackupCountDefaultsToOneAndNoBackupsMeansNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		backupCount int
		want        int
	}{
		{"zero value", 0, 1},
		{"NoBackups", member.NoBackups, 0},
		{"two", 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := member.Config{
				ClusterName: "scratch",
				BindAddr:    "127.0.0.1:0",
				BackupCount: tc.backupCount,
				Logger:      clustertest.Logger(t),
			}
			c := clustertest.Start(t, 3, cfg)
			for _, m := range c.Members() {
				require.Equal(t, tc.want, m.Config().BackupCount, "BackupCount the member runs with")
			}
			tbl := c.Members()[0].Partitions()
			for p := range tbl.Count() {
				require.Len(t, tbl.Replicas(p), tc.want+1, "replicas of partition %d", p)
			}
		})
	}
}

func TestValidateBackupCount(t *testing.T) {
	t.Parallel()
	for _, n := range []int{member.NoBackups, 0, 1, 6} {
		cfg := member.LocalConfig()
		cfg.BackupCount = n
		require.NoError(t, cfg.Validate(), "BackupCount %d", n)
	}
	for _, n := range []int{-2, 7} {
		cfg := member.LocalConfig()
		cfg.BackupCount = n
		require.ErrorContains(t, cfg.Validate(), "BackupCount", "BackupCount %d", n)
	}
}
