// Command embed shows a Go service embedding a weir member: two instances
// of the service (here two members in one process) form a cluster, share
// its partitions, and one leaves gracefully, handing its partitions over.
//
//	go run ./examples/embed
//	go run ./examples/embed --join 127.0.0.1:5701   # join a running cluster instead
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/examples/internal/localcluster"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/partition"
)

// join is the address of a member of a running cluster to join, instead of
// starting two members here.
var join = flag.String("join", "", "gossip address of a member of a running cluster to join, e.g. 127.0.0.1:5701 (default: start a cluster of two in this process)")

func main() {
	localcluster.Main("embed", func(ctx context.Context, out io.Writer, logger *slog.Logger) error {
		if *join == "" {
			return runPair(ctx, out, logger)
		}
		return runJoin(ctx, out, logger, *join)
	})
}

// runPair starts two members, as two instances of a service would.
func runPair(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	cfg := weir.LocalConfig() // one machine: loopback, any free port; DefaultConfig() for production
	cfg.Logger = logger
	cfg.Name = "service-1"
	// The member serves distributed maps and runs jobs: weir.Start attaches
	// both, in code. Every data member of a cluster serves the same; a
	// member started otherwise is refused at join.
	first, err := weir.Start(ctx, cfg) // no Join: starts a new cluster
	if err != nil {
		return err
	}
	defer first.Shutdown(ctx)

	cfg.Name = "service-2"
	cfg.Join = []string{first.Addr()} // any live member's gossip address
	second, err := weir.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer second.Shutdown(ctx) // idempotent: a second call returns nil

	// The coordinator (the oldest member) moves partitions to the new
	// member; wait until the first sees it and the moves are over.
	if _, err := first.WaitMembers(ctx, func(is []member.Info) bool { return len(is) == 2 }); err != nil {
		return err
	}
	t, err := first.WaitSettled(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "members: %s\n", names(first.Members()))
	fmt.Fprintf(out, "partitions: %s\n", ownership(t))

	// A graceful shutdown first moves the member's partitions (and their
	// data) to the others, so nothing is lost even without backups.
	if err := second.Shutdown(ctx); err != nil {
		return err
	}
	t, err = first.WaitSettled(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after service-2 left: %s\n", ownership(t))
	return nil
}

// runJoin joins a running cluster, shows it, and leaves.
func runJoin(ctx context.Context, out io.Writer, logger *slog.Logger, addr string) error {
	cfg := weir.LocalConfig()
	cfg.Logger = logger
	cfg.Name = "embedded"
	cfg.Join = []string{addr}
	m, err := weir.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Shutdown(ctx)
	t, err := m.WaitSettled(ctx) // partitions moved to this member too
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "members: %s\n", names(m.Members()))
	fmt.Fprintf(out, "partitions: %s\n", ownership(t))
	fmt.Fprintln(out, "leaving: moving this member's partitions to the others")
	return m.Shutdown(ctx)
}

// names lists members by name, oldest (the coordinator) first.
func names(ms []member.Info) string {
	var s []string
	for _, info := range ms {
		s = append(s, info.Name)
	}
	return strings.Join(s, ", ")
}

// ownership says how many partitions each member owns, most first.
func ownership(t *partition.Table) string {
	var counts []string
	owned := map[string]int{}
	for _, id := range t.Members() {
		owned[id] = len(t.Owned(id))
	}
	ids := t.Members()
	slices.SortFunc(ids, func(a, b string) int { return owned[b] - owned[a] })
	for _, id := range ids {
		counts = append(counts, fmt.Sprint(owned[id]))
	}
	return fmt.Sprintf("%s of %d owned by %d member(s)", strings.Join(counts, " + "), t.Count(), len(ids))
}
