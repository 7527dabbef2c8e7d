package resp_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/resp"
)

// A member serving RESP: a Redis client writes a hash, the Go API reads
// it as a map.
func Example() {
	ctx := context.Background()
	cfg := weir.LocalConfig()
	cfg.RESPAddr = "127.0.0.1:0" // any free port
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := weir.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	rc := redis.NewClient(&redis.Options{Addr: resp.Of(m).Addr()})
	defer rc.Close()
	rc.HSet(ctx, "vehicles", "truck-7", "18000")
	fmt.Println(rc.IncrBy(ctx, "visits", 42).Val())

	v, _, _ := grid.GetMap[string, string](m, "vehicles").Get(ctx, "truck-7")
	fmt.Println(v)
	// Output:
	// 42
	// 18000
}
