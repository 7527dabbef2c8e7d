package cli

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/member"
)

// --backups counts backups as it reads: 0 is none, although a zero
// Config.BackupCount means the default of one.
func TestBackupsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 1},
		{[]string{"--backups", "0"}, member.NoBackups},
		{[]string{"--backups", "2"}, 2},
	} {
		f := newMemberFlags("weir member", io.Discard)
		require.NoError(t, f.fs.Parse(tc.args))
		cfg, err := f.config(io.Discard)
		require.NoError(t, err)
		require.Equal(t, tc.want, cfg.BackupCount, "%q", tc.args)
	}
}
