package main

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
	"github.com/weir-dev/weir/snapshot"
)

// expected is what the job should compute from some readings, by plain
// loops over them: no windows, no watermarks, no state but maps.
type expected struct {
	fuel           map[string]float64 // burnt, by vehicle
	vehicleMinutes map[VehicleMinute]float64
	fleetMinutes   map[int64]float64
	alerts         map[AlertKey]Alert // all but maintenance: those follow the trips
	late           map[string]int64
	trips          map[TripKey]Trip // complete: route, fuel and driver known
	routes         int              // trips whose positions came (complete or not)
	// highTS is, per map partition, the latest event time read: the
	// watermark at the cut is at least the lowest of them less AllowedLag.
	highTS map[int]int64
}

// reference computes the job's results from the readings each gives, each
// vehicle's in the order they reach the cluster; partitions is the
// cluster's partition count (vehicle i is read from partition i modulo it).
func reference(c fleet.Config, partitions int, each func(func(fleet.Reading))) expected {
	e := expected{fuel: map[string]float64{}, vehicleMinutes: map[VehicleMinute]float64{}, fleetMinutes: map[int64]float64{},
		alerts: map[AlertKey]Alert{}, late: map[string]int64{}, trips: map[TripKey]Trip{}, highTS: map[int]int64{}}
	vehicles := map[string]fleet.Vehicle{}
	index := map[string]int{}
	for i, v := range c.Fleet() {
		vehicles[v.ID], index[v.ID] = v, i
	}
	fuelStates := map[string]*fuelState{}
	tripFuel := map[TripKey]float64{}
	drivers := map[string]map[int64]string{}
	positions := map[string][]fleet.Reading{}
	alert := func(a Alert) {
		if _, ok := e.alerts[a.AlertKey]; !ok {
			e.alerts[a.AlertKey] = a
		}
	}
	each(func(r fleet.Reading) {
		part := index[r.Vehicle] % partitions
		e.highTS[part] = max(e.highTS[part], r.TS)
		switch r.Kind {
		case fleet.Load:
			for _, a := range checkLoad(r, vehicles[r.Vehicle]) {
				alert(a)
			}
			return
		case fleet.Assignment:
			if drivers[r.Vehicle] == nil {
				drivers[r.Vehicle] = map[int64]string{}
			}
			drivers[r.Vehicle][r.Shift] = r.Driver
			return
		case fleet.Position:
			if a, ok := checkSpeed(r); ok {
				alert(a)
			}
		}
		st := fuelStates[r.Vehicle]
		if st == nil {
			st = &fuelState{}
			fuelStates[r.Vehicle] = st
		}
		events, _ := fuelEvents(st, r.Vehicle, r)
		for _, ev := range events {
			switch ev.Kind {
			case LateFuel:
				e.late["fuel"]++
			case Burnt:
				e.fuel[r.Vehicle] += ev.Liters
				minute := time.Unix(0, ev.TS).UTC().Truncate(time.Minute).Unix()
				e.vehicleMinutes[VehicleMinute{r.Vehicle, minute}] += ev.Liters * KgCO2PerLiter
				e.fleetMinutes[minute] += ev.Liters * KgCO2PerLiter
			case Stolen:
				alert(Alert{AlertKey: AlertKey{ev.Vehicle, ev.Trip, Theft}, TS: ev.TS, Value: ev.Liters})
			case TripFuel:
				tripFuel[TripKey{ev.Vehicle, ev.Trip}] = ev.Liters
			case Waypoint:
				positions[r.Vehicle] = append(positions[r.Vehicle], r)
			case LatePosition:
				e.late["position"]++
			}
		}
	})
	// Trips: sessions of positions closer than the trip gap in event time,
	// complete once their fuel and their driver are known.
	for id, ps := range positions {
		sorted := slices.SortedFunc(slices.Values(ps), func(a, b fleet.Reading) int { return cmp.Compare(a.TS, b.TS) })
		start := 0
		for i := 1; i <= len(sorted); i++ {
			if i < len(sorted) && sorted[i].TS-sorted[i-1].TS < int64(TripGap) {
				continue
			}
			session := sorted[start:i]
			start = i
			e.routes++
			// The job's list keeps arrival order: its first is the first
			// to arrive of the session.
			lo, hi := session[0].TS, session[len(session)-1].TS
			first := session[0]
			for _, r := range ps {
				if r.TS >= lo && r.TS <= hi {
					first = r
					break
				}
			}
			ws := make([]fleet.Waypoint, len(session))
			for j, r := range session {
				ws[j] = fleet.Waypoint{TS: r.TS, Lat: r.Lat, Lon: r.Lon}
			}
			t := Trip{TripKey: TripKey{id, first.Trip}, Start: lo, End: hi, Waypoints: len(ws), Km: fleet.MatchedKm(ws),
				Parcels: first.Parcels, Product: first.Product}
			liters, fueled := tripFuel[t.TripKey]
			driver, assigned := drivers[id][c.ShiftOf(t.Start)]
			if !fueled || !assigned {
				continue
			}
			t.Driver, t.Liters, t.KgCO2 = driver, liters, liters*KgCO2PerLiter
			if t.Parcels > 0 {
				t.KgCO2PerParcel = t.KgCO2 / float64(t.Parcels)
			}
			e.trips[t.TripKey] = t
		}
	}
	return e
}

// fromTrips computes what the job derives from its complete trips: the
// drivers' economy, the products' footprint, and the maintenance alerts
// (each vehicle's trips in order).
func fromTrips(trips map[TripKey]Trip) (map[string]Economy, map[string]Footprint, map[AlertKey]Alert) {
	eco, foot, worn := map[string]Economy{}, map[string]Footprint{}, map[AlertKey]Alert{}
	wear := map[string]*wearState{}
	for _, k := range slices.SortedFunc(maps.Keys(trips), cmpTrip) {
		t := trips[k]
		eco[t.Driver] = sumEconomy.Accumulate(eco[t.Driver], t)
		foot[t.Product] = sumFootprint.Accumulate(foot[t.Product], t)
		if wear[t.Vehicle] == nil {
			wear[t.Vehicle] = &wearState{}
		}
		if a := wear[t.Vehicle].add(t); a != nil {
			worn[a.AlertKey] = *a
		}
	}
	return eco, foot, worn
}

// forecastOf folds fleet minutes, in order, into the forecast.
func forecastOf(minutes map[int64]float64, limitKg float64) Forecast {
	f := Forecast{LimitKg: limitKg}
	for _, minute := range slices.Sorted(maps.Keys(minutes)) {
		start := time.Unix(minute, 0).UTC()
		f, _ = forecast(&f, "fleet", pipeline.WindowResult[struct{}, float64]{Start: start, End: start.Add(time.Minute), Value: minutes[minute]})
	}
	return f
}

func cmpTrip(a, b TripKey) int {
	return cmp.Or(cmp.Compare(a.Vehicle, b.Vehicle), cmp.Compare(a.Trip, b.Trip))
}

// finalCut is what the fleet source had read at the job's last snapshot:
// the offsets it saved in it, read back from an export of it.
//
// With Suspend taking a terminal snapshot (the sources emit nothing after
// the barrier, and the results committed are the snapshot's), what the
// job's maps hold after Suspend is exactly what these readings give.
func finalCut(ctx context.Context, m *member.Member, job *dag.Job) (fleet.Cut, error) {
	name := "gogreen-cut-" + job.ID
	if err := job.ExportSnapshot(ctx, name); err != nil {
		return fleet.Cut{}, err
	}
	store, c, err := snapshot.OpenNamed(ctx, m, name)
	if err != nil {
		return fleet.Cut{}, err
	}
	cut := fleet.Cut{Partitions: m.PartitionCount(), Positions: map[int]fleet.Offset{}}
	err = store.Read(ctx, c, "fleet", nil, func(key, value []byte) error {
		part, b, err := dag.LoadEntry[string, []byte](key, value)
		if err != nil {
			return err
		}
		p, err := strconv.Atoi(part)
		if err != nil {
			return err
		}
		off, err := fleet.DecodeOffset(b)
		cut.Positions[p] = off
		return err
	})
	return cut, err
}
