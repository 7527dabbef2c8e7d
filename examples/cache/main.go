// Command cache uses a distributed map as a cache shared by the members of
// a cluster of three in this process: one member writes vehicles, another
// reads them through a near cache (a local copy that the owners invalidate
// on every change), and entries of a second map expire after a TTL.
//
//	go run ./examples/cache
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/weir-dev/weir/examples/internal/localcluster"
	"github.com/weir-dev/weir/grid"
)

// Vehicle is a map value. Values are stored as msgpack, so any type
// msgpack can encode will do.
type Vehicle struct {
	Driver    string
	MaxLoadKg int
}

func main() { localcluster.Main("cache", run) }

func run(ctx context.Context, out io.Writer, logger *slog.Logger) error {
	ms, err := localcluster.Start(ctx, 3, logger)
	defer localcluster.Shutdown(ms)
	if err != nil {
		return err
	}

	// A handle on the map "vehicles" through member m2. The same name on
	// any member is the same map; each key lives on its partition's owner
	// (and a backup), whichever member wrote it.
	vehicles := grid.GetMap[string, Vehicle](ms[1], "vehicles")
	err = vehicles.PutAll(ctx, map[string]Vehicle{
		"truck-7": {Driver: "ana", MaxLoadKg: 18000},
		"truck-9": {Driver: "bo", MaxLoadKg: 26000},
		"van-2":   {Driver: "cy", MaxLoadKg: 3500},
	})
	if err != nil {
		return err
	}

	// The same map through member m1, with a near cache: the first read of
	// a key asks its owner, later reads are served from m1's memory.
	cached := grid.GetMap[string, Vehicle](ms[0], "vehicles", grid.WithNearCache(grid.NearCacheConfig{}))
	for range 2 {
		for _, id := range []string{"truck-7", "truck-9", "van-2"} {
			if _, _, err := cached.Get(ctx, id); err != nil {
				return err
			}
		}
	}
	v, _, err := cached.Get(ctx, "truck-7")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "truck-7: %+v\n", v)
	printStats(out, "after reading 3 vehicles twice, and truck-7 again", cached.NearCacheStats())

	// A write anywhere makes the key's owner invalidate every near cache
	// holding the key. The invalidation travels asynchronously: it may
	// arrive just after the write returns, so wait for it before reading.
	if err := vehicles.Put(ctx, "truck-7", Vehicle{Driver: "dee", MaxLoadKg: 18000}); err != nil {
		return err
	}
	if err := poll(ctx, func() bool { return cached.NearCacheStats().Invalidations == 1 }); err != nil {
		return fmt.Errorf("no invalidation: %w", err)
	}
	if v, _, err = cached.Get(ctx, "truck-7"); err != nil { // a miss: asks the owner
		return err
	}
	fmt.Fprintf(out, "truck-7 after the update: %+v\n", v)
	printStats(out, "after the update and one more read", cached.NearCacheStats())

	// Entries of a map with a TTL expire that long after their last write
	// (PutTTL sets one entry's TTL). Reads never return an expired entry.
	const ttl = 500 * time.Millisecond
	sessions := grid.GetMap[string, string](ms[2], "sessions", grid.WithTTL(ttl))
	written := time.Now()
	if err := sessions.Put(ctx, "ana", "token-1"); err != nil {
		return err
	}
	token, found, err := sessions.Get(ctx, "ana")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "session of ana: %q (found: %v)\n", token, found)
	err = poll(ctx, func() bool {
		_, found, err = sessions.Get(ctx, "ana")
		return err != nil || !found
	})
	if err != nil {
		return err
	}
	if time.Since(written) < ttl {
		return fmt.Errorf("the session expired before its TTL")
	}
	fmt.Fprintf(out, "session of ana: gone after its TTL of %v\n", ttl)
	return nil
}

func printStats(out io.Writer, when string, s grid.NearCacheStats) {
	fmt.Fprintf(out, "near cache %s: %+v\n", when, s)
}

// poll calls done every few milliseconds until it returns true, for at
// most five seconds.
func poll(ctx context.Context, done func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return errors.New("timed out")
		}
	}
	return nil
}
