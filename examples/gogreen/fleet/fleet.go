// Package fleet simulates the vehicles of the Go Green example: a fleet of
// trucks that drive trips from their depots, park to deliver, refuel, and
// report three kinds of readings with event timestamps: fuel level, the
// load on each axle, and GNSS position. Some readings reach the cluster
// late, as cellular reception fails and the onboard unit sends them later.
//
// Everything is a pure function of the configuration: the same Config
// yields the same readings in every process, run and restart, which is what
// lets the job's generator be replayed from a snapshot and lets a test
// compare the job's results with Reference, a plain computation over the
// same readings.
package fleet

import (
	"fmt"
	"math"
	"time"
)

// Config describes a simulated fleet and how fast its readings come.
type Config struct {
	Vehicles int    `msgpack:"v"`
	Seed     uint64 `msgpack:"s"`
	// Start is the simulated time of step 0 (unix ns).
	Start int64 `msgpack:"t"`
	// Steps bounds the simulation (0: endless). A vehicle reports each
	// kind of reading once a step, every StepTime of simulated time.
	Steps int64 `msgpack:"n"`
	// StepsPerSecond paces the simulation in wall-clock time (0: as fast
	// as the job reads).
	StepsPerSecond float64 `msgpack:"r"`
	// LateEvery: one reading in LateEvery is delayed by LateSteps steps
	// (0: none).
	LateEvery int   `msgpack:"l"`
	LateSteps int64 `msgpack:"d"`
}

// StepTime is the simulated time between two readings of one kind from one
// vehicle.
const StepTime = 10 * time.Second

// StepsPerMinute is the steps in a simulated minute.
const StepsPerMinute = int64(time.Minute / StepTime)

// DefaultConfig is a fleet of n vehicles starting on 1 March 2026, 06:00
// UTC, with one reading in 200 delayed by ten simulated minutes.
func DefaultConfig(n int) Config {
	return Config{Vehicles: n, Seed: 42, Start: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC).UnixNano(),
		LateEvery: 200, LateSteps: 10 * StepsPerMinute}
}

// Validate says what is wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case c.Vehicles <= 0:
		return fmt.Errorf("fleet: %d vehicles: want at least one", c.Vehicles)
	case c.Steps < 0 || c.StepsPerSecond < 0 || c.LateEvery < 0 || c.LateSteps < 0:
		return fmt.Errorf("fleet: negative steps, pace or lateness in %+v", c)
	case c.LateEvery > 0 && c.LateSteps == 0:
		return fmt.Errorf("fleet: late readings need LateSteps")
	}
	return nil
}

// At is the simulated time of step k.
func (c Config) At(k int64) time.Time { return time.Unix(0, c.Start+k*int64(StepTime)).UTC() }

// Kind is the kind of a reading.
type Kind uint8

// The kinds of readings.
const (
	Fuel Kind = iota + 1
	Load
	Position
)

func (k Kind) String() string {
	switch k {
	case Fuel:
		return "fuel"
	case Load:
		return "load"
	case Position:
		return "position"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Reading is one sensor reading of one vehicle.
type Reading struct {
	Kind    Kind   `msgpack:"k"`
	Vehicle string `msgpack:"v"`
	TS      int64  `msgpack:"t"` // event time, unix ns
	Step    int64  `msgpack:"s"`
	Trip    int64  `msgpack:"p"` // the trip the vehicle is on (or last made)
	// Fuel: the tank's level in liters.
	Liters float64 `msgpack:"f,omitempty"`
	// Load: kilograms on each axle, front to back.
	Axles [3]float64 `msgpack:"a,omitempty"`
	// Position: coordinates, and the parcels on board for the trip.
	Lat     float64 `msgpack:"y,omitempty"`
	Lon     float64 `msgpack:"x,omitempty"`
	Parcels int     `msgpack:"n,omitempty"`
}

// Time is the reading's event time.
func (r Reading) Time() time.Time { return time.Unix(0, r.TS).UTC() }

// Vehicle is what the company knows about a truck: what the job looks up
// in the "vehicles" map.
type Vehicle struct {
	ID         string  `msgpack:"i"`
	MaxLoadKg  float64 `msgpack:"m"`
	TankLiters float64 `msgpack:"t"`
	// LitersPer100km is its nominal consumption.
	LitersPer100km float64 `msgpack:"c"`
	Driver         string  `msgpack:"d"`
}

// vehicle is a truck's simulated behaviour.
type vehicle struct {
	Vehicle
	speedKm    float64 // km per step while driving
	driveSteps int64
	cycleSteps int64 // driving then parked
	phase      int64 // steps into its cycle at step 0
	depotLat   float64
	depotLon   float64
	usedBefore float64 // liters burnt since its last refuel at step 0
}

// VehicleID names vehicle i.
func VehicleID(i int) string { return fmt.Sprintf("truck-%04d", i) }

func (c Config) vehicle(i int) vehicle {
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(i), salt) }
	v := vehicle{
		Vehicle: Vehicle{
			ID:             VehicleID(i),
			MaxLoadKg:      math.Round(12000 + 14000*h(1)),
			TankLiters:     math.Round(300 + 300*h(2)),
			LitersPer100km: math.Round((24+12*h(3))*10) / 10,
			Driver:         fmt.Sprintf("driver-%04d", (i*7919)%c.Vehicles),
		},
		speedKm:    (50 + 40*h(4)) * StepTime.Hours(),
		driveSteps: (12 + int64(14*h(5))) * StepsPerMinute,
		depotLat:   51.2 + 1.5*h(6),
		depotLon:   -1.5 + 2.5*h(7),
	}
	v.cycleSteps = v.driveSteps + (6+int64(8*h(8)))*StepsPerMinute
	v.phase = int64(h(9) * float64(v.cycleSteps))
	v.usedBefore = 0.7 * v.TankLiters * h(10)
	return v
}

// Fleet returns every vehicle's record.
func (c Config) Fleet() []Vehicle {
	out := make([]Vehicle, c.Vehicles)
	for i := range out {
		out[i] = c.vehicle(i).Vehicle
	}
	return out
}

// ExpectedLitersPerHour is what the whole fleet burns in an average hour:
// each vehicle drives part of its cycle at its speed.
func (c Config) ExpectedLitersPerHour() float64 {
	total := 0.0
	for i := range c.Vehicles {
		v := c.vehicle(i)
		kmPerHour := v.speedKm / StepTime.Hours() * float64(v.driveSteps) / float64(v.cycleSteps)
		total += kmPerHour * v.LitersPer100km / 100
	}
	return total
}
