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
	// Kafka, when it names a topic, is where the readings come from.
	Kafka KafkaInput `msgpack:"k,omitempty"`
}

// The maps the job reads (filled before it starts) and writes.
const (
	VehiclesMap = "vehicles" // vehicle ID -> fleet.Vehicle

	FuelMap          = "fuel-used"          // vehicle -> liters burnt (CO2 is KgCO2PerLiter times that)
	VehicleMinuteMap = "co2-vehicle-minute" // VehicleMinute -> kg CO2
	FleetMinuteMap   = "co2-fleet-minute"   // minute (unix s) -> kg CO2
	ForecastMap      = "forecast"           // "fleet" -> Forecast
	AlertsMap        = "alerts"             // AlertKey -> Alert, one per trip and kind
	AlertCountMap    = "alert-counts"       // alert kind -> count
	TripsMap         = "trips"              // TripKey -> Trip, complete
	EconomyMap       = "driver-economy"     // driver -> Economy
	FootprintMap     = "footprint"          // product -> Footprint
	LateMap          = "late"               // reading kind -> readings dropped as late
)

// resultMaps are the maps the job writes.
var resultMaps = []string{FuelMap, VehicleMinuteMap, FleetMinuteMap, ForecastMap, AlertsMap, AlertCountMap, TripsMap, EconomyMap, FootprintMap, LateMap}

// KgCO2PerLiter is what burning a liter of diesel emits.
const KgCO2PerLiter = 2.68

// AllowedLag is how late, in event time, a reading may be and still count:
// readings delayed longer are dropped (and counted).
const AllowedLag = 30 * time.Second

// TripGap is how long a vehicle sends no position before its trip is over.
const TripGap = 2 * time.Minute

// VehicleMinute keys a vehicle's emissions in one minute.
type VehicleMinute struct {
	Vehicle string `msgpack:"v"`
	Minute  int64  `msgpack:"m"` // unix seconds of the minute's start
}

// AlertKind says what is wrong.
type AlertKind string

// The alerts.
const (
	Overload    AlertKind = "overload"    // Value: load kg, Limit: the truck's maximum
	Imbalance   AlertKind = "imbalance"   // Value: load kg, Limit: the truck's maximum
	Speeding    AlertKind = "speeding"    // Value: km/h, Limit: the segment's limit
	Theft       AlertKind = "theft"       // Value: liters gone while standing
	Maintenance AlertKind = "maintenance" // Value: L/100 km, Limit: the truck's baseline
)

// alertKinds lists the alerts in the order they are printed.
var alertKinds = []AlertKind{Overload, Imbalance, Speeding, Theft, Maintenance}

// ImbalanceShare is the share of the load on one axle above which the
// cargo is badly distributed.
const ImbalanceShare = 0.5

// AlertKey identifies an alert: a vehicle alerts once per trip and kind.
type AlertKey struct {
	Vehicle string    `msgpack:"v"`
	Trip    int64     `msgpack:"t"`
	Kind    AlertKind `msgpack:"k"`
}

// Alert is something wrong seen on a trip.
type Alert struct {
	AlertKey
	TS    int64   `msgpack:"s"`
	Value float64 `msgpack:"l"`
	Limit float64 `msgpack:"m,omitempty"`
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
		out = append(out, Alert{AlertKey: AlertKey{r.Vehicle, r.Trip, Overload}, TS: r.TS, Value: total, Limit: v.MaxLoadKg})
	}
	if total > 0 && top/total > ImbalanceShare {
		out = append(out, Alert{AlertKey: AlertKey{r.Vehicle, r.Trip, Imbalance}, TS: r.TS, Value: total, Limit: v.MaxLoadKg})
	}
	return out
}

// checkSpeed returns the alert a position raises if the truck drives
// faster than its road segment allows.
func checkSpeed(r fleet.Reading) (Alert, bool) {
	limit := fleet.SpeedLimit(r.Lat, r.Lon)
	if r.SpeedKmh <= limit+fleet.SpeedTolerance {
		return Alert{}, false
	}
	return Alert{AlertKey: AlertKey{r.Vehicle, r.Trip, Speeding}, TS: r.TS, Value: r.SpeedKmh, Limit: limit}, true
}

func init() { dag.Register(JobName, build) }

func build(p Params) (*dag.DAG, error) {
	if err := p.Fleet.Validate(); err != nil {
		return nil, err
	}
	pl := pipeline.New()
	readings := pipeline.ReadFrom(pl, readingsSource(p),
		pipeline.EventTime(fleet.Reading.Time, AllowedLag).Throttle(time.Second))
	byVehicle := func(r fleet.Reading) string { return r.Vehicle }
	ofKind := func(k fleet.Kind) func(fleet.Reading) bool { return func(r fleet.Reading) bool { return r.Kind == k } }

	// Fuel, read with the positions: burnt (CO2), stolen, per trip.
	fuelAndPositions := pipeline.Filter(readings, func(r fleet.Reading) bool { return r.Kind == fleet.Fuel || r.Kind == fleet.Position })
	events := pipeline.FlatMap(pipeline.MapStateful(pipeline.GroupBy(fuelAndPositions, byVehicle),
		func() fuelState { return fuelState{} }, fuelEvents), func(es []FuelEvent) []FuelEvent { return es })
	ofEvent := func(k FuelEventKind) func(FuelEvent) bool { return func(e FuelEvent) bool { return e.Kind == k } }
	burnt := pipeline.Filter(events, ofEvent(Burnt))
	byBurner := pipeline.GroupBy(burnt, func(e FuelEvent) string { return e.Vehicle })
	co2 := func(e FuelEvent) float64 { return e.Liters * KgCO2PerLiter }
	pipeline.WriteTo(pipeline.RollingAggregate(byBurner, pipeline.Sum(func(e FuelEvent) float64 { return e.Liters })), sinks.Map[string, float64](FuelMap))
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
	}), sinks.Map[string, Forecast](ForecastMap))
	stolen := pipeline.Map(pipeline.Filter(events, ofEvent(Stolen)), func(e FuelEvent) Alert {
		return Alert{AlertKey: AlertKey{e.Vehicle, e.Trip, Theft}, TS: e.TS, Value: e.Liters}
	})

	// Loads: overload and imbalance, against each vehicle's record (kept
	// in a near cache: it hardly ever changes).
	loadAlerts := pipeline.FlatMap(pipeline.LookupMapCached(pipeline.Filter(readings, ofKind(fleet.Load)), VehiclesMap, byVehicle,
		func(r fleet.Reading, v fleet.Vehicle, found bool) ([]Alert, bool) { return checkLoad(r, v), found },
		grid.NearCacheConfig{}), func(as []Alert) []Alert { return as })

	// Positions: speeding against the road segment's limit; trips as
	// session windows of waypoints, matched to the roads by the external
	// service, asynchronously.
	positions := pipeline.Filter(readings, ofKind(fleet.Position))
	speeding := pipeline.FlatMap(positions, func(r fleet.Reading) []Alert {
		if a, ok := checkSpeed(r); ok {
			return []Alert{a}
		}
		return nil
	})
	waypoints := pipeline.Map(pipeline.Filter(events, ofEvent(Waypoint)), func(e FuelEvent) fleet.Reading { return *e.Position })
	tripWindows := pipeline.Window(pipeline.GroupBy(waypoints, byVehicle), pipeline.Session(TripGap))
	routes := pipeline.MapAsync(pipeline.AggregateWindow(tripWindows, pipeline.ToList[fleet.Reading]()),
		pipeline.AsyncConfig{MaxInFlight: 32, Timeout: 5 * time.Second},
		func(ctx context.Context, w pipeline.WindowResult[string, []fleet.Reading]) (Trip, error) {
			return matchTrip(ctx, p.MatchURL, w)
		})

	// Trips: route, fuel and driver joined in the vehicle's state.
	parts := pipeline.Merge(
		pipeline.Map(routes, func(t Trip) tripPart { return tripPart{Route: &t} }),
		pipeline.Map(pipeline.Filter(events, ofEvent(TripFuel)), func(e FuelEvent) tripPart { return tripPart{Fuel: &e} }),
		pipeline.Map(pipeline.Filter(readings, ofKind(fleet.Assignment)), func(r fleet.Reading) tripPart { return tripPart{Assign: &r} }))
	closed := pipeline.FlatMap(pipeline.MapStateful(pipeline.GroupBy(parts, tripPart.vehicle),
		func() tripState { return tripState{} }, joinTrip(p.Fleet)), func(ts []closedTrip) []closedTrip { return ts })
	trips := pipeline.Map(closed, func(c closedTrip) Trip { return c.Trip })
	pipeline.WriteTo(pipeline.Map(trips, func(t Trip) pipeline.KV[TripKey, Trip] { return pipeline.KV[TripKey, Trip]{Key: t.TripKey, Value: t} }),
		sinks.Map[TripKey, Trip](TripsMap))
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(trips, func(t Trip) string { return t.Driver }), sumEconomy),
		sinks.Map[string, Economy](EconomyMap))
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(trips, func(t Trip) string { return t.Product }), sumFootprint),
		sinks.Map[string, Footprint](FootprintMap))
	worn := pipeline.FlatMap(closed, func(c closedTrip) []Alert {
		if c.Alert == nil {
			return nil
		}
		return []Alert{*c.Alert}
	})

	// Alerts: once per vehicle, trip and kind.
	alerts := pipeline.Distinct(pipeline.GroupBy(pipeline.Merge(loadAlerts, speeding, stolen, worn), func(a Alert) AlertKey { return a.AlertKey }))
	pipeline.WriteTo(pipeline.Map(alerts, func(a Alert) pipeline.KV[AlertKey, Alert] {
		return pipeline.KV[AlertKey, Alert]{Key: a.AlertKey, Value: a}
	}),
		sinks.Map[AlertKey, Alert](AlertsMap))
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(alerts, func(a Alert) AlertKind { return a.Kind }), pipeline.Count[Alert]()),
		sinks.Map[AlertKind, int64](AlertCountMap))

	// Late readings: counted by kind.
	lateFuel := pipeline.Map(pipeline.Filter(events, ofEvent(LateFuel)), func(FuelEvent) string { return fleet.Fuel.String() })
	latePositions := pipeline.Map(pipeline.Filter(events, ofEvent(LatePosition)), func(FuelEvent) string { return fleet.Position.String() })
	// (Behind the windows' watermark, which never happens to a position
	// the step above let through: counted all the same.)
	behind := pipeline.Map(pipeline.LateItems(tripWindows), func(fleet.Reading) string { return fleet.Position.String() })
	pipeline.WriteTo(pipeline.RollingAggregate(pipeline.GroupBy(pipeline.Merge(lateFuel, latePositions, behind), pipeline.Identity[string]), pipeline.Count[string]()),
		sinks.Map[string, int64](LateMap))
	return pl.Compile()
}
