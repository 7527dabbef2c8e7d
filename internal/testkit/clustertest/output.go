package clustertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Output calls run, the body of a tour program under examples/, with a
// minute to finish and the test's logger, requires that it succeed, and
// returns what it printed.
func Output(t testing.TB, run func(ctx context.Context, out io.Writer, logger *slog.Logger) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, Logger(t)))
	return out.String()
}
