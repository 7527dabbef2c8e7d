// Package localcluster starts the in-process clusters of the tour
// programs under examples/: n members on loopback, each joining the
// first. Main is their common main function.
package localcluster

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/member"
)

// Start starts n members on loopback in this process, each joining the
// first, and waits until the partitions are spread over all of them
// (member.WaitSettled). On an error it returns the members it started, for
// Shutdown.
func Start(ctx context.Context, n int, logger *slog.Logger) ([]*member.Member, error) {
	cfg := member.LocalConfig() // loopback, ephemeral ports, fast failure detection
	cfg.Logger = logger
	var ms []*member.Member
	for i := range n {
		c := cfg
		c.Name = fmt.Sprintf("m%d", i+1)
		if i > 0 {
			c.Join = []string{ms[0].Addr()}
		}
		m, err := weir.Start(ctx, c)
		if err != nil {
			return ms, err
		}
		ms = append(ms, m)
	}
	// Partitions migrate to members as they join: wait until the first sees
	// them all and every member holds the balanced table.
	if _, err := ms[0].WaitMembers(ctx, func(is []member.Info) bool { return len(is) == n }); err != nil {
		return ms, err
	}
	if _, err := ms[0].WaitSettled(ctx); err != nil {
		return ms, err
	}
	return ms, nil
}

// Shutdown stops the members gracefully, the last started first.
func Shutdown(ms []*member.Member) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range slices.Backward(ms) {
		_ = m.Shutdown(ctx)
	}
}

// Main is a tour program's main: it parses --verbose (log what the members
// do, to stderr), gives run a minute, writes its output to standard output
// and exits with status 1, naming the program, if run fails.
func Main(program string, run func(ctx context.Context, out io.Writer, logger *slog.Logger) error) {
	verbose := flag.Bool("verbose", false, "log what the members do, to stderr")
	flag.Parse()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, logger); err != nil {
		cancel()
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
}
