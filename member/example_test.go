package member_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/weir-dev/weir/member"
)

// Two members on loopback form a cluster; the second joins the first.
func Example() {
	ctx := context.Background()
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))

	first, err := member.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer first.Shutdown(ctx)

	cfg.Join = []string{first.Addr()}
	second, err := member.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer second.Shutdown(ctx)

	members, _ := second.WaitMembers(ctx, func(ms []member.Info) bool { return len(ms) == 2 })
	coordinator, _ := second.Coordinator()
	fmt.Println("members:", len(members))
	fmt.Println("coordinator is the first:", coordinator.ID == first.ID())
	fmt.Println("partitions:", second.PartitionCount())
	// Output:
	// members: 2
	// coordinator is the first: true
	// partitions: 271
}
