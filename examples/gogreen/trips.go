package main

import (
	"context"
	"maps"
	"slices"

	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/pipeline"
)

// A trip is complete when three things are known, which come by three
// paths in any order: its route matched to the roads (when its session
// window of positions closes), the fuel burnt on it (when the truck stops),
// and who drove it (when dispatch records the shift's assignment, which
// can be late). The trip waits in its vehicle's state until all three are
// there. Its fuel economy, its carbon footprint and the vehicle's wear are
// computed from its own fuel and its own distance.

// TripKey identifies a trip.
type TripKey struct {
	Vehicle string `msgpack:"v"`
	Trip    int64  `msgpack:"t"`
}

// Trip is a vehicle's journey between two stops, matched to the roads.
type Trip struct {
	TripKey
	Start     int64   `msgpack:"s"` // unix ns, its first position
	End       int64   `msgpack:"e"` // its last
	Waypoints int     `msgpack:"w"`
	Km        float64 `msgpack:"k"` // along the roads
	Parcels   int     `msgpack:"p"`
	Product   string  `msgpack:"o"`
	Driver    string  `msgpack:"d,omitempty"`
	// Liters is the fuel burnt on the trip, as measured; KgCO2 what it
	// emitted, KgCO2PerParcel each parcel's share.
	Liters         float64 `msgpack:"l,omitempty"`
	KgCO2          float64 `msgpack:"c,omitempty"`
	KgCO2PerParcel float64 `msgpack:"q,omitempty"`
}

// Per100 is the trip's consumption in liters per 100 km.
func (t Trip) Per100() float64 { return t.Liters / t.Km * 100 }

// matchTrip sends a trip's waypoints to the map-matching service.
func matchTrip(ctx context.Context, url string, w pipeline.WindowResult[string, []fleet.Reading]) (Trip, error) {
	ws := make([]fleet.Waypoint, len(w.Value))
	for i, r := range w.Value {
		ws[i] = fleet.Waypoint{TS: r.TS, Lat: r.Lat, Lon: r.Lon}
	}
	km, err := fleet.Client(url).Match(ctx, ws)
	if err != nil {
		return Trip{}, err
	}
	first := w.Value[0]
	start, end := first.TS, first.TS
	for _, r := range w.Value {
		start, end = min(start, r.TS), max(end, r.TS)
	}
	return Trip{TripKey: TripKey{w.Key, first.Trip}, Start: start, End: end,
		Waypoints: len(ws), Km: km, Parcels: first.Parcels, Product: first.Product}, nil
}

// tripPart is one of the three things a trip needs.
type tripPart struct {
	Route  *Trip          `msgpack:"r,omitempty"`
	Fuel   *FuelEvent     `msgpack:"f,omitempty"`
	Assign *fleet.Reading `msgpack:"a,omitempty"`
}

func (p tripPart) vehicle() string {
	switch {
	case p.Route != nil:
		return p.Route.Vehicle
	case p.Fuel != nil:
		return p.Fuel.Vehicle
	}
	return p.Assign.Vehicle
}

// tripState is a vehicle's trips waiting for their parts, its drivers by
// shift, and its wear.
type tripState struct {
	Routes  map[int64]Trip    `msgpack:"r"`
	Fuel    map[int64]float64 `msgpack:"f"`
	Drivers map[int64]string  `msgpack:"d"` // by shift
	Wear    wearState         `msgpack:"w"`
}

// keptShifts is how many shifts' assignments a vehicle keeps: a trip is
// over long before its shift's assignment is that old.
const keptShifts = 4

// closedTrip is a complete trip, and the maintenance alert it raised.
type closedTrip struct {
	Trip  Trip   `msgpack:"t"`
	Alert *Alert `msgpack:"a,omitempty"`
}

// joinTrip adds a part to the vehicle's state and returns the trips it
// completes, in trip order.
func joinTrip(c fleet.Config) func(st *tripState, vehicle string, p tripPart) ([]closedTrip, bool) {
	return func(st *tripState, vehicle string, p tripPart) ([]closedTrip, bool) {
		if st.Routes == nil {
			st.Routes, st.Fuel, st.Drivers = map[int64]Trip{}, map[int64]float64{}, map[int64]string{}
		}
		switch {
		case p.Route != nil:
			st.Routes[p.Route.Trip] = *p.Route
		case p.Fuel != nil:
			st.Fuel[p.Fuel.Trip] = p.Fuel.Liters
		default:
			st.Drivers[p.Assign.Shift] = p.Assign.Driver
			for s := range st.Drivers {
				if s <= p.Assign.Shift-keptShifts {
					delete(st.Drivers, s)
				}
			}
		}
		var out []closedTrip
		for _, n := range slices.Sorted(maps.Keys(st.Routes)) {
			t := st.Routes[n]
			liters, fueled := st.Fuel[n]
			driver, assigned := st.Drivers[c.ShiftOf(t.Start)]
			if !fueled || !assigned {
				continue
			}
			delete(st.Routes, n)
			delete(st.Fuel, n)
			t.Driver, t.Liters, t.KgCO2 = driver, liters, liters*KgCO2PerLiter
			if t.Parcels > 0 {
				t.KgCO2PerParcel = t.KgCO2 / float64(t.Parcels)
			}
			out = append(out, closedTrip{Trip: t, Alert: st.Wear.add(t)})
		}
		return out, len(out) > 0
	}
}

// Predictive maintenance: a truck whose consumption rises trip after trip
// beyond its own baseline (its first trips) probably has a part wearing
// out. A new driver can raise it once; only a steady climb over
// wearTrips trips, each wearStep above the one before, and wearMargin
// above the baseline in the end, raises an alert.
const (
	baselineTrips = 2
	wearTrips     = 3
	wearStep      = 1.02
	wearMargin    = 1.15
)

// wearState is a vehicle's baseline consumption and its recent trips'.
type wearState struct {
	Baseline []float64 `msgpack:"b"`
	Recent   []float64 `msgpack:"r"`
	Alerted  bool      `msgpack:"a"`
}

// add counts a trip, and returns the maintenance alert it raises.
func (w *wearState) add(t Trip) *Alert {
	if t.Km < 1 {
		return nil // too short to say
	}
	per := t.Per100()
	if len(w.Baseline) < baselineTrips {
		w.Baseline = append(w.Baseline, per)
		return nil
	}
	w.Recent = append(w.Recent, per)
	if len(w.Recent) > wearTrips {
		w.Recent = w.Recent[1:]
	}
	base := 0.0
	for _, b := range w.Baseline {
		base += b
	}
	base /= float64(len(w.Baseline))
	if w.Alerted || len(w.Recent) < wearTrips || per < wearMargin*base {
		return nil
	}
	for i := 1; i < len(w.Recent); i++ {
		if w.Recent[i] < wearStep*w.Recent[i-1] {
			return nil
		}
	}
	w.Alerted = true
	return &Alert{AlertKey: AlertKey{t.Vehicle, t.Trip, Maintenance}, TS: t.End, Value: per, Limit: base}
}

// Economy is a driver's fuel and distance over the trips they completed:
// Liters/Km*100 is their liters per 100 km.
type Economy struct {
	Liters float64 `msgpack:"l"`
	Km     float64 `msgpack:"k"`
	Trips  int     `msgpack:"t"`
}

// Footprint is the carbon footprint of the parcels of one product.
type Footprint struct {
	Trips   int     `msgpack:"t"`
	Parcels int     `msgpack:"p"`
	KgCO2   float64 `msgpack:"c"`
}

var sumEconomy = pipeline.AggregateOp[Trip, Economy, Economy]{
	Create:     func() Economy { return Economy{} },
	Accumulate: func(a Economy, t Trip) Economy { return Economy{a.Liters + t.Liters, a.Km + t.Km, a.Trips + 1} },
	Combine:    func(a, b Economy) Economy { return Economy{a.Liters + b.Liters, a.Km + b.Km, a.Trips + b.Trips} },
	Export:     func(a Economy) Economy { return a },
}

var sumFootprint = pipeline.AggregateOp[Trip, Footprint, Footprint]{
	Create: func() Footprint { return Footprint{} },
	Accumulate: func(a Footprint, t Trip) Footprint {
		return Footprint{a.Trips + 1, a.Parcels + t.Parcels, a.KgCO2 + t.KgCO2}
	},
	Combine: func(a, b Footprint) Footprint {
		return Footprint{a.Trips + b.Trips, a.Parcels + b.Parcels, a.KgCO2 + b.KgCO2}
	},
	Export: func(a Footprint) Footprint { return a },
}
