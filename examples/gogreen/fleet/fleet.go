// Package fleet simulates the vehicles of the Go Green example: a fleet of
// trucks that drive trips from their depots, park to deliver, refuel, and
// report their readings with event timestamps: fuel level, the load on each
// axle and GNSS position (with speed) while they drive, the fuel level once
// a minute while parked. The dispatch system adds a fourth stream: which
// driver takes which truck for each shift.
//
// The fleet works by day: few trucks drive before dawn, most in the
// morning and afternoon peaks, so the readings' rate varies with the
// simulated time of day. The simulation also makes, deterministically, the
// situations the job must find: overloaded and badly balanced cargo,
// drivers speeding on a road segment, fuel stolen from a parked truck, and
// trucks whose consumption creeps up trip after trip (a part wearing out).
//
// Fuel burns with the road distance driven, at the truck's nominal
// consumption times its driver's style (1 for the most economical) and its
// wear. GNSS positions lie on the straight line from the depot, and the
// roads are RoadFactor longer than straight lines, so the map-matched
// distance of a trip is the road distance the fuel was burnt over.
//
// Everything is a pure function of the configuration: the same Config
// yields the same readings in every process, run and restart, which is what
// lets the job's generator be replayed from a snapshot and lets a test
// compare the job's results with a plain computation over the same
// readings (ForEach, or ForEachIn a snapshot's Cut).
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
	// Start is the simulated time of step 0 (unix ns), on a whole
	// StepTime.
	Start int64 `msgpack:"t"`
	// Steps bounds the simulation (0: endless). A driving vehicle reports
	// each kind of reading once a step, every StepTime of simulated time.
	Steps int64 `msgpack:"n"`
	// StepsPerSecond paces the simulation in wall-clock time (0: as fast
	// as the job reads).
	StepsPerSecond float64 `msgpack:"r"`
	// LateEvery: one reading in LateEvery is delayed by LateSteps steps
	// (0: none).
	LateEvery int   `msgpack:"l"`
	LateSteps int64 `msgpack:"d"`
	// Shift is how long drivers keep a truck: at each multiple of Shift
	// (since the Unix epoch) every truck gets another driver.
	Shift time.Duration `msgpack:"h"`
}

// StepTime is the simulated time between two readings of one kind from a
// driving vehicle.
const StepTime = 15 * time.Second

// StepsPerMinute is the steps in a simulated minute.
const StepsPerMinute = int64(time.Minute / StepTime)

// ParkedEvery is how many steps apart a parked vehicle reports its fuel
// level (its unit sleeps in between).
const ParkedEvery = StepsPerMinute

// DefaultShift is how long a driver keeps a truck: short, so that the
// drivers' changes show in a demo of a few simulated hours.
const DefaultShift = 2 * time.Hour

// DefaultConfig is a fleet of n vehicles starting on Monday 2 March 2026,
// 04:00 UTC, an hour before the first trucks leave their depots, with one
// reading in 200 delayed by ten simulated minutes.
func DefaultConfig(n int) Config {
	return Config{Vehicles: n, Seed: 42, Start: time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC).UnixNano(),
		LateEvery: 200, LateSteps: 10 * StepsPerMinute, Shift: DefaultShift}
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
	case c.Start%int64(StepTime) != 0:
		return fmt.Errorf("fleet: start %v is not on a whole step", time.Unix(0, c.Start).UTC())
	case c.Shift < time.Hour || c.Shift%StepTime != 0:
		return fmt.Errorf("fleet: shift %v: want an hour or more, in whole steps", c.Shift)
	}
	return nil
}

// At is the simulated time of step k.
func (c Config) At(k int64) time.Time { return time.Unix(0, c.Start+k*int64(StepTime)).UTC() }

// ShiftOf is the shift a time falls in.
func (c Config) ShiftOf(ts int64) int64 { return ts / int64(c.Shift) }

// Kind is the kind of a reading.
type Kind uint8

// The kinds of readings.
const (
	Fuel Kind = iota + 1
	Load
	Position
	// Assignment is the dispatch system's word that a driver takes a truck
	// for a shift.
	Assignment
)

func (k Kind) String() string {
	switch k {
	case Fuel:
		return "fuel"
	case Load:
		return "load"
	case Position:
		return "position"
	case Assignment:
		return "assignment"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Reading is one sensor reading of one vehicle, or one assignment.
type Reading struct {
	Kind    Kind   `msgpack:"k"`
	Vehicle string `msgpack:"v"`
	TS      int64  `msgpack:"t"` // event time, unix ns
	// Trip is the onboard unit's trip counter: the trip the vehicle is on,
	// or made last (-1 before its first).
	Trip int64 `msgpack:"p"`
	// Fuel: the tank's level in liters.
	Liters float64 `msgpack:"f,omitempty"`
	// Load: kilograms on each axle, front to back.
	Axles [3]float64 `msgpack:"a,omitempty"`
	// Position: coordinates, speed over ground, and the cargo of the trip.
	Lat      float64 `msgpack:"y,omitempty"`
	Lon      float64 `msgpack:"x,omitempty"`
	SpeedKmh float64 `msgpack:"z,omitempty"`
	Parcels  int     `msgpack:"n,omitempty"`
	Product  string  `msgpack:"o,omitempty"`
	// Assignment: the driver and the shift (TS is when dispatch recorded
	// it, which can be after the shift began).
	Driver string `msgpack:"r,omitempty"`
	Shift  int64  `msgpack:"h,omitempty"`
}

// Time is the reading's event time.
func (r Reading) Time() time.Time { return time.Unix(0, r.TS).UTC() }

// Vehicle is what the company knows about a truck: what the job looks up
// in the "vehicles" map.
type Vehicle struct {
	ID         string  `msgpack:"i"`
	MaxLoadKg  float64 `msgpack:"m"`
	TankLiters float64 `msgpack:"t"`
	// LitersPer100km is its nominal consumption, driven economically.
	LitersPer100km float64 `msgpack:"c"`
}

// VehicleID names vehicle i.
func VehicleID(i int) string { return fmt.Sprintf("truck-%04d", i) }

// DriverID names driver d.
func DriverID(d int) string { return fmt.Sprintf("driver-%04d", d) }

func (c Config) record(i int) Vehicle {
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(i), salt) }
	return Vehicle{
		ID:             VehicleID(i),
		MaxLoadKg:      math.Round(12000 + 14000*h(1)),
		TankLiters:     math.Round(300 + 300*h(2)),
		LitersPer100km: math.Round((24+12*h(3))*10) / 10,
	}
}

// Fleet returns every vehicle's record.
func (c Config) Fleet() []Vehicle {
	out := make([]Vehicle, c.Vehicles)
	for i := range out {
		out[i] = c.record(i)
	}
	return out
}

// Drivers is how many drivers the fleet has: one per truck.
func (c Config) Drivers() int { return c.Vehicles }

// DriverOf is who drives vehicle i in shift s: every shift the drivers
// move on by an offset of the shift's, so each truck has one driver and
// each driver one truck.
func (c Config) DriverOf(i int, s int64) int {
	return int((uint64(i) + mix(c.Seed, uint64(s), 0xd1)) % uint64(c.Vehicles))
}

// DriverStyle is how much more than nominal driver d burns: 1 for the most
// economical, up to 1.15.
func (c Config) DriverStyle(d int) float64 { return 1 + 0.15*unit(c.Seed, uint64(d), 0x5e) }
