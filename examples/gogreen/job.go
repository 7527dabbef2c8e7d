package main

import (
	"context"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/sinks"
)

// JobName is the Go Green job's registered name: every member links this
// package, so every member can build it from its parameters.
const JobName = "gogreen"

// Params configure the job.
type Params struct {
	Fleet fleet.Config `msgpack:"f"`
	// MatchURL is the map-matching service.
	MatchURL string `msgpack:"u"`
	// MonthlyLimitKg is the fleet's CO2 allowance for a calendar month.
	MonthlyLimitKg float64 `msgpack:"l"`
}

// The maps the job reads (filled before it starts) and writes.
const (
	VehiclesMap    = "vehicles"    // vehicle ID -> fleet.Vehicle
	AssignmentsMap = "assignments" // vehicle ID -> driver ID

	FuelMap          = "fuel-used"          // vehicle -> liters burnt
	VehicleCO2Map    = "co2-vehicle"        // vehicle -> kg CO2 in all
	VehicleMinuteMap = "co2-vehicle-minute" // VehicleMinute -> kg CO2
	FleetMinuteMap   = "co2-fleet-minute"   // minute (unix s) -> kg CO2
	ForecastMap      = "forecast"           // "fleet" -> Forecast
	AlertsMap        = "alerts"             // AlertKey -> Alert, one per trip and kind
	AlertCountMap    = "alert-counts"       // alert kind -> count
	EconomyMap       = "driver-economy"     // driver -> Economy
	TripsMap         = "trips"              // TripKey -> Trip
	LateMap          = "late"               // reading kind -> readings dropped as late
)

// KgCO2PerLiter is what burning a liter of diesel emits.
const KgCO2PerLiter = 2.68

// AllowedLag is how late, in event time, a reading may be and still count:
// readings delayed longer are dropped (and counted).
const AllowedLag = 30 * time.Second

// TripGap is how long a vehicle sends no position before its trip is over.
const TripGap = 2 * time.Minute

// FuelStep is what one fuel reading says, compared with the vehicle's
// previous one.
type FuelStep struct {
	Vehicle string  `msgpack:"v"`
	Liters  float64 `msgpack:"l"` // burnt since the previous reading
	Late    bool    `msgpack:"x,omitempty"`
}

// fuelState is a vehicle's last fuel reading.
type fuelState struct {
	TS     int64   `msgpack:"t"`
	Liters float64 `msgpack:"l"`
	Seen   bool    `msgpack:"s"`
}

// fuelStep compares a reading with the vehicle's previous one. A reading
// older than the previous is late: it says nothing new about consumption.
// A fall is what was burnt; a rise is a refuel (what was burnt between the
// two readings is not known, and not counted).
func fuelStep(st *fuelState, vehicle string, r fleet.Reading) (FuelStep, bool) {
	if st.Seen && r.TS <= st.TS {
		return FuelStep{Vehicle: vehicle, Late: true}, true
	}
	prev, seen := st.Liters, st.Seen
	*st = fuelState{TS: r.TS, Liters: r.Liters, Seen: true}
	if !seen || r.Liters >= prev {
		return FuelStep{}, false
	}
	return FuelStep{Vehicle: vehicle, Liters: prev - r.Liters}, true
}

// VehicleMinute keys a vehicle's emissions in one minute.
type VehicleMinute struct {
	Vehicle string `msgpack:"v"`
	Minute  int64  `msgpack:"m"` // unix seconds of the minute's start
}

// AlertKind says what is wrong with a load.
type AlertKind string

// The alerts.
const (
	Overload  AlertKind = "overload"
	Imbalance AlertKind = "imbalance"
)

// ImbalanceShare is the share of the load on one axle above which the
// cargo is badly distributed.
const ImbalanceShare = 0.5

// AlertKey identifies an alert: a vehicle alerts once per trip and kind.
type AlertKey struct {
	Vehicle string    `msgpack:"v"`
	Trip    int64     `msgpack:"t"`
	Kind    AlertKind `msgpack:"k"`
}

// Alert is an overload or imbalance seen on a trip.
type Alert struct {
	AlertKey
	TS        int64   `msgpack:"s"`
	LoadKg    float64 `msgpack:"l"`
	MaxLoadKg float64 `msgpack:"m"`
}

// checkLoad returns the alerts a load reading raises for vehicle v.
func checkLoad(r fleet.Reading, v fleet.Vehicle) []Alert {
	total, top := 0.0, 0.0
	for _, a := range r.Axles {
		total += a
		top = max(top, a)
	}
	var out []Alert
	if total > v.MaxLoadKg {
		out = append(out, Alert{AlertKey: AlertKey{r.Vehicle, r.Trip, Overload}, TS: r.TS, LoadKg: total, MaxLoadKg: v.MaxLoadKg})
	}
	if total > 0 && top/total > ImbalanceShare {
		out = append(out, Alert{AlertKey: AlertKey{r.Vehicle, r.Trip, Imbalance}, TS: r.TS, LoadKg: total, MaxLoadKg: v.MaxLoadKg})
	}
	return out
}

// TripKey identifies a trip.
type TripKey struct {
	Vehicle string `msgpack:"v"`
	Trip    int64  `msgpack:"t"`
}

// Trip is a vehicle's journey between two stops, matched to the roads.
type Trip struct {
	TripKey
	Start     int64   `msgpack:"s"` // unix ns
	End       int64   `msgpack:"e"`
	Waypoints int     `msgpack:"w"`
	Km        float64 `msgpack:"k"`
	Parcels   int     `msgpack:"p"`
	// KgCO2 is the trip's emissions at the vehicle's nominal consumption;
	// KgCO2PerParcel its share for each parcel carried.
	KgCO2          float64 `msgpack:"c"`
	KgCO2PerParcel float64 `msgpack:"q"`
}

// Economy is a driver's fuel and distance: Liters/Km*100 is their liters
// per 100 km.
type Economy struct {
	Liters float64 `msgpack:"l"`
	Km     float64 `msgpack:"k"`
}

// driverDelta is fuel or distance to add to a driver's economy.
type driverDelta struct {
	Driver string
	Economy
}

var sumEconomy = pipeline.AggregateOp[driverDelta, Economy, Economy]{
	Create:     func() Economy { return Economy{} },
	Accumulate: func(a Economy, d driverDelta) Economy { return Economy{a.Liters + d.Liters, a.Km + d.Km} },
	Combine:    func(a, b Economy) Economy { return Economy{a.Liters + b.Liters, a.Km + b.Km} },
	Export:     func(a Economy) Economy { return a },
}

func init() { dag.Register(JobName, build) }

func build(p Params) (*dag.DAG, error) {
	pl := pipeline.New()
	readings := pipeline.ReadFrom(pl, fleet.Source(p.Fleet),
		pipeline.EventTime(fleet.Reading.Time, AllowedLag).Throttle(time.Second))
	byVehicle := func(r fleet.Reading) string { return r.Vehicle }
	ofKind := func(k fleet.Kind) func(fleet.Reading) bool { return func(r fleet.Reading) bool { return r.Kind == k } }

	// Fuel: consumption from consecutive levels (keyed state), then CO2.
	steps := pipeline.MapStateful(pipeline.GroupBy(pipeline.Filter(readings, ofKind(fleet.Fuel)), byVehicle),
		func() fuelState { return fuelState{} }, fuelStep)
	burnt := pipeline.Filter(steps, func(s FuelStep) bool { return !s.Late })
	byBurner := pipeline.GroupBy(burnt, func(s FuelStep) string { return s.Vehicle })
	liters := func(s FuelStep) float64 { return s.Liters }
	co2 := func(s FuelStep) float64 { return s.Liters * KgCO2PerLiter }
	pipeline.WriteTo(pipeline.RollingAggregate(byBurner, pipeline.Sum(liters)), sinks.Map[string, float64](FuelMap))
	pipeline.WriteTo(pipeline.RollingAggregate(byBurner, pipeline.Sum(co2)), sinks.Map[string, float64](VehicleCO2Map))
	perVehicle := pipeline.AggregateWindow(pipeline.Window(byBurner, pipeline.Tumbling(time.Minute)), pipeline.Sum(co2))
	pipeline.WriteTo(pipeline.Map(perVehicle, func(w pipeline.WindowResult[string, float64]) pipeline.KV[VehicleMinute, float64] {
		return pipeline.KV[VehicleMinute, float64]{Key: VehicleMinute{w.Key, w.Start.Unix()}, Value: w.Value}
	}), sinks.Map[VehicleMinute, float64](VehicleMinuteMap))
	fleetMinutes := pipeline.AggregateWindow(pipeline.WindowAll(burnt, pipeline.Tumbling(time.Minute)), pipeline.Sum(co2))
	pipeline.WriteTo(pipeline.Map(fleetMinutes, func(w pipeline.WindowResult[struct{}, float64]) pipeline.KV[int64, float64] {
		return pipeline.KV[int64, float64]{Key: w.Start.Unix(), Value: w.Value}
	}), sinks.Map[int64, float64](FleetMinuteMap))
	forecasts := pipeline.MapStateful(pipeline.GroupBy(fleetMinutes, func(pipeline.WindowResult[struct{}, float64]) string { return "fleet" }),
		func() Forecast { return Forecast{LimitKg: p.MonthlyLimitKg} }, forecast)
	pipeline.WriteTo(pipeline.Map(forecasts, func(f Forecast) pipeline.KV[string, Forecast] {
		return pipeline.KV[string, Forecast]{Key: "fleet", Value: f}
	}),
		sinks.Map[string, Forecast](ForecastMap))

	// Loads: overload and imbalance alerts, against each vehicle's record
	// (kept in a near cache: it hardly ever changes), once per trip.
	checked := pipeline.LookupMapCached(pipeline.Filter(readings, ofKind(fleet.Load)), VehiclesMap, byVehicle,
		func(r fleet.Reading, v fleet.Vehicle, found bool) ([]Alert, bool) { return checkLoad(r, v), found },
		grid.NearCacheConfig{})
	alerts := pipeline.Distinct(pipeline.GroupBy(pipeline.FlatMap(checked, func(as []Alert) []Alert { return as }),
		func(a Alert) AlertKey { return a.AlertKey }))
	pipeline.WriteTo(pipeline.Map(alerts, func(a Alert) pipeline.KV[AlertKey, Alert] {
		return pipeline.KV[AlertKey, Alert]{Key: a.AlertKey, Value: a}
	}),
		sinks.Map[AlertKey, Alert](AlertsMap))
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(alerts, func(a Alert) AlertKind { return a.Kind }), pipeline.Count[Alert]()),
		sinks.Map[AlertKind, int64](AlertCountMap))

	// Positions: trips as session windows of waypoints, matched to the
	// roads by the external service, asynchronously.
	tripWindows := pipeline.Window(pipeline.GroupBy(pipeline.Filter(readings, ofKind(fleet.Position)), byVehicle), pipeline.Session(TripGap))
	waypoints := pipeline.AggregateWindow(tripWindows, pipeline.ToList[fleet.Reading]())
	matched := pipeline.MapAsync(waypoints, pipeline.AsyncConfig{MaxInFlight: 32, Timeout: 5 * time.Second},
		func(ctx context.Context, w pipeline.WindowResult[string, []fleet.Reading]) (Trip, error) {
			return matchTrip(ctx, p.MatchURL, w)
		})
	trips := pipeline.LookupMapCached(matched, VehiclesMap, func(t Trip) string { return t.Vehicle },
		func(t Trip, v fleet.Vehicle, found bool) (Trip, bool) { return withEmissions(t, v), found }, grid.NearCacheConfig{})
	pipeline.WriteTo(pipeline.Map(trips, func(t Trip) pipeline.KV[TripKey, Trip] { return pipeline.KV[TripKey, Trip]{Key: t.TripKey, Value: t} }),
		sinks.Map[TripKey, Trip](TripsMap))

	// Drivers: fuel and distance joined with the assignment map.
	fuelOf := pipeline.LookupMap(burnt, AssignmentsMap, func(s FuelStep) string { return s.Vehicle },
		func(s FuelStep, driver string, found bool) (driverDelta, bool) {
			return driverDelta{driver, Economy{Liters: s.Liters}}, found
		})
	kmOf := pipeline.LookupMap(trips, AssignmentsMap, func(t Trip) string { return t.Vehicle },
		func(t Trip, driver string, found bool) (driverDelta, bool) {
			return driverDelta{driver, Economy{Km: t.Km}}, found
		})
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(pipeline.Merge(fuelOf, kmOf), func(d driverDelta) string { return d.Driver }), sumEconomy),
		sinks.Map[string, Economy](EconomyMap))

	// Late readings: counted by kind.
	lateFuel := pipeline.Map(pipeline.Filter(steps, func(s FuelStep) bool { return s.Late }), func(FuelStep) string { return fleet.Fuel.String() })
	latePositions := pipeline.Map(pipeline.LateItems(tripWindows), func(fleet.Reading) string { return fleet.Position.String() })
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(pipeline.Merge(lateFuel, latePositions), pipeline.Identity[string]), pipeline.Count[string]()),
		sinks.Map[string, int64](LateMap))
	return pl.Compile()
}

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
	return Trip{TripKey: TripKey{w.Key, first.Trip}, Start: w.Start.UnixNano(), End: w.End.UnixNano(),
		Waypoints: len(ws), Km: km, Parcels: first.Parcels}, nil
}

// withEmissions adds a trip's emissions at the vehicle's nominal
// consumption, and their share per parcel.
func withEmissions(t Trip, v fleet.Vehicle) Trip {
	t.KgCO2 = t.Km * v.LitersPer100km / 100 * KgCO2PerLiter
	if t.Parcels > 0 {
		t.KgCO2PerParcel = t.KgCO2 / float64(t.Parcels)
	}
	return t
}
