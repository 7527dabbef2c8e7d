package fleet

import (
	"context"
	"time"
)

// Feed runs the simulation outside a job, paced as Source paces it
// (StepsPerSecond; unpaced at 0), and calls send with each step's
// readings of every vehicle, in the order they reach the cluster: what a
// producer of the fleet's telemetry into a message queue would send. It
// returns when a bounded simulation has ended, send fails, or ctx ends.
func (c Config) Feed(ctx context.Context, send func([]Reading) error) error {
	if err := c.Validate(); err != nil {
		return err
	}
	sims := make([]vehicle, c.Vehicles)
	for i := range sims {
		sims[i] = c.vehicle(i)
	}
	last := c.lastStep()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var buf []Reading
	for k := int64(0); last < 0 || k <= last; k++ {
		if c.StepsPerSecond > 0 {
			timer.Reset(time.Until(start.Add(time.Duration(float64(k) / c.StepsPerSecond * float64(time.Second)))))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		for i := range sims {
			buf = c.appendStep(buf, &sims[i], k)
		}
		if err := send(buf); err != nil {
			return err
		}
	}
	return nil
}
