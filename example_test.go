package weir_test

import (
	"context"
	"fmt"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
)

// A service becomes a member with Start, and reads and writes the cluster's
// maps through it.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := weir.LocalConfig() // loopback, any free port
	cfg.Name = "service-1"
	m, err := weir.Start(ctx, cfg) // no Join: a new cluster
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Shutdown(ctx)

	vehicles := grid.GetMap[string, string](m, "vehicles")
	if err := vehicles.Put(ctx, "truck-7", "ana"); err != nil {
		fmt.Println(err)
		return
	}
	driver, _, err := vehicles.Get(ctx, "truck-7")
	fmt.Println(driver, err, m.ServiceNames())
	// Output: ana <nil> [grid dag]
}
