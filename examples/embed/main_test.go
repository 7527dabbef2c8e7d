package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}

func TestRunPair(t *testing.T) {
	require.Equal(t, `members: service-1, service-2
partitions: 136 + 135 of 271 owned by 2 member(s)
after service-2 left: 271 of 271 owned by 1 member(s)
`, clustertest.Output(t, runPair))
}

// The --join mode joins a cluster started here, as it would the members
// of the README's three terminals.
func TestRunJoin(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Config(t))
	lines := clustertest.Output(t, func(ctx context.Context, out io.Writer, logger *slog.Logger) error {
		return runJoin(ctx, out, logger, c.Members()[0].Addr())
	})
	require.Contains(t, lines, ", embedded\n", "the joining member is listed last, as the youngest")
	require.Contains(t, lines, "of 271 owned by 3 member(s)\n")
	require.Contains(t, lines, "leaving:")
}
