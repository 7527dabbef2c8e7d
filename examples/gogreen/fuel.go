package main

import (
	"time"

	"github.com/weir-dev/weir/examples/gogreen/fleet"
)

// What the fuel readings say, read with the vehicle's positions: the fuel
// level falls while the truck drives (burnt: CO2) or while it stands
// (stolen: no CO2, an alert). When a truck stops, the fuel it burnt on the
// trip is complete.
//
// The same step tells the positions that come in time from those delayed
// (older than the vehicle's newest reading by more than AllowedLag): only
// the first make trips. Judged per vehicle, in the order its readings
// come, this does not depend on how far apart the source instances are.

// StationaryAfter is how long after its last position a truck counts as
// standing: a moving truck sends one every step.
const StationaryAfter = time.Minute

// TheftMinLiters is the smallest fall of a standing truck's level that is
// taken for theft (rather than for a sensor's noise).
const TheftMinLiters = 5.0

// FuelEventKind says what a fuel reading meant.
type FuelEventKind uint8

// The fuel events.
const (
	Burnt        FuelEventKind = iota + 1 // Liters burnt while driving trip Trip
	Stolen                                // Liters gone while standing
	TripFuel                              // the trip is over: Liters burnt on it in all
	LateFuel                              // a reading older than the vehicle's last
	Waypoint                              // a position in time: Position
	LatePosition                          // a position too old to count
)

// FuelEvent is what one reading told about a vehicle's fuel.
type FuelEvent struct {
	Kind    FuelEventKind `msgpack:"k"`
	Vehicle string        `msgpack:"v"`
	TS      int64         `msgpack:"t"`
	Trip    int64         `msgpack:"p"`
	Liters  float64       `msgpack:"l"`
	// Position is the reading of a Waypoint.
	Position *fleet.Reading `msgpack:"r,omitempty"`
}

// fuelState is a vehicle's last fuel reading, its latest position and the
// fuel burnt on the trip in progress.
type fuelState struct {
	TS     int64   `msgpack:"t"`
	Liters float64 `msgpack:"l"`
	Seen   bool    `msgpack:"s"`
	PosTS  int64   `msgpack:"p"` // latest position's time (0: none)
	Newest int64   `msgpack:"w"` // latest reading's time
	// The trip in progress: its number and the fuel burnt so far.
	Trip    int64   `msgpack:"n"`
	Burnt   float64 `msgpack:"b"`
	Driving bool    `msgpack:"d"`
}

// fuelEvents reads a vehicle's fuel and position readings, in the order
// they arrive, into fuel events. A fuel reading older than the previous is
// late: it says nothing new. A rise is a refuel.
func fuelEvents(st *fuelState, vehicle string, r fleet.Reading) ([]FuelEvent, bool) {
	if r.Kind == fleet.Position {
		if r.TS < st.Newest-int64(AllowedLag) {
			return []FuelEvent{{Kind: LatePosition, Vehicle: vehicle, TS: r.TS}}, true
		}
		st.PosTS, st.Newest = max(st.PosTS, r.TS), max(st.Newest, r.TS)
		return []FuelEvent{{Kind: Waypoint, Vehicle: vehicle, TS: r.TS, Trip: r.Trip, Position: &r}}, true
	}
	st.Newest = max(st.Newest, r.TS)
	if st.Seen && r.TS <= st.TS {
		return []FuelEvent{{Kind: LateFuel, Vehicle: vehicle, TS: r.TS}}, true
	}
	prev, seen := st.Liters, st.Seen
	st.TS, st.Liters, st.Seen = r.TS, r.Liters, true
	fell := 0.0
	if seen && r.Liters < prev {
		fell = prev - r.Liters
	}
	var out []FuelEvent
	if st.PosTS != 0 && r.TS-st.PosTS < int64(StationaryAfter) {
		if fell > 0 {
			if !st.Driving || st.Trip != r.Trip {
				st.Trip, st.Burnt, st.Driving = r.Trip, 0, true
			}
			st.Burnt += fell
			out = append(out, FuelEvent{Kind: Burnt, Vehicle: vehicle, TS: r.TS, Trip: r.Trip, Liters: fell})
		}
		return out, len(out) > 0
	}
	if st.Driving {
		out = append(out, FuelEvent{Kind: TripFuel, Vehicle: vehicle, TS: r.TS, Trip: st.Trip, Liters: st.Burnt})
		st.Driving, st.Burnt = false, 0
	}
	if fell >= TheftMinLiters {
		out = append(out, FuelEvent{Kind: Stolen, Vehicle: vehicle, TS: r.TS, Trip: r.Trip, Liters: fell})
	}
	return out, len(out) > 0
}
