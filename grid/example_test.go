package grid_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

type vehicle struct {
	MaxLoadKg int
	Driver    string
}

// A map of vehicles shared by two members, read through a near cache.
func Example() {
	ctx := context.Background()
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, _ := weir.Start(ctx, cfg)
	defer a.Shutdown(ctx)
	cfg.Join = []string{a.Addr()}
	b, _ := weir.Start(ctx, cfg)
	defer b.Shutdown(ctx)

	fleet := grid.GetMap[string, vehicle](a, "vehicles")
	_ = fleet.Put(ctx, "truck-7", vehicle{MaxLoadKg: 18000, Driver: "ana"})

	cached := grid.GetMap[string, vehicle](b, "vehicles", grid.WithNearCache(grid.NearCacheConfig{}))
	v, ok, _ := cached.Get(ctx, "truck-7") // a miss: asks the owner
	fmt.Println(v.Driver, v.MaxLoadKg, ok)
	_, _, _ = cached.Get(ctx, "truck-7") // a hit: no round trip
	fmt.Println("hits:", cached.NearCacheStats().Hits)
	// Output:
	// ana 18000 true
	// hits: 1
}

var addKg = grid.RegisterProcessor("example.add-kg", func(_ string, v vehicle, exists bool, kg int) (vehicle, grid.Action, int, error) {
	if !exists {
		return v, grid.Keep, 0, nil
	}
	v.MaxLoadKg += kg
	return v, grid.Set, v.MaxLoadKg, nil
})

// An entry processor updates a value on its owner, atomically.
func ExampleExecute() {
	ctx := context.Background()
	cfg := member.LocalConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, _ := weir.Start(ctx, cfg)
	defer m.Shutdown(ctx)

	fleet := grid.GetMap[string, vehicle](m, "vehicles")
	_ = fleet.Put(ctx, "van-2", vehicle{MaxLoadKg: 3500})
	total, _ := grid.Execute(ctx, fleet, "van-2", addKg, 500)
	fmt.Println(total)
	// Output: 4000
}
