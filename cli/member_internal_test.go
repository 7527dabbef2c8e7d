package cli

import (
	"io"
	"strings"
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
		require.NoError(t, f.parse(tc.args))
		cfg, err := f.config(io.Discard)
		require.NoError(t, err)
		require.Equal(t, tc.want, cfg.BackupCount, "%q", tc.args)
	}
}

// A bad value in an environment variable is refused as the same value
// given as a flag is, and a flag given overrides its variable.
func TestEnvironmentRefusedLikeFlags(t *testing.T) {
	for env, val := range map[string]string{"WEIR_PARTITIONS": "abc", "WEIR_BACKUPS": "abc", "WEIR_LOCAL": "yes-please", "WEIR_SHUTDOWN_TIMEOUT": "soon"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			var out strings.Builder
			f := newMemberFlags("weir member", &out)
			err := f.parse(nil)
			require.Error(t, err)
			require.Contains(t, out.String(), "$"+env+"=\""+val+"\"")
			require.Equal(t, 2, RunMember("weir member", nil, io.Discard, io.Discard))
		})
	}
	t.Setenv("WEIR_PARTITIONS", "31")
	t.Setenv("WEIR_LOCAL", "true")
	f := newMemberFlags("weir member", io.Discard)
	require.NoError(t, f.parse([]string{"--backups", "2"}))
	cfg, err := f.config(io.Discard)
	require.NoError(t, err)
	require.Equal(t, 31, cfg.PartitionCount)
	require.True(t, f.local)
	t.Setenv("WEIR_BACKUPS", "abc")
	f = newMemberFlags("weir member", io.Discard)
	require.NoError(t, f.parse([]string{"--backups", "2"}), "the flag given wins over its variable")
}
