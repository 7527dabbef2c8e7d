package main

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/pipeline"
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}

// The job on 3 members, exactly-once with frequent snapshots, over a
// bounded simulation, gives what a plain loop over the same readings
// computes.
func TestJobMatchesAPlainComputation(t *testing.T) {
	c := clustertest.Start(t, 3, member.Config{})
	m := c.Members()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	matcher, err := fleet.StartMatcher("127.0.0.1:0", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = matcher.Close(); fleet.CloseClients() })

	cfg := fleet.DefaultConfig(60)
	cfg.Steps = 60 * fleet.StepsPerMinute // a simulated hour, in about 6 s
	cfg.LateEvery = 40
	// Paced, so that snapshots are taken while the readings flow (read as
	// fast as it goes, the simulation is over before the first): barriers
	// then reach members before the coordinator's word that the round
	// began, which used to lose them and hang the job.
	cfg.StepsPerSecond = 60
	p := Params{Fleet: cfg, MatchURL: matcher.URL, MonthlyLimitKg: 5000}
	require.NoError(t, prepare(ctx, m, cfg))
	job, err := dag.Submit(ctx, m, JobName, p, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(100*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got, err := collect(ctx, m, job, p)
	require.NoError(t, err)
	want := reference(cfg, p.MonthlyLimitKg)

	// Fuel: keyed state per vehicle, exact up to float addition order.
	fuel := map[string]float64{}
	require.NoError(t, grid.GetMap[string, float64](m, FuelMap).Scan(ctx, func(v string, l float64) bool { fuel[v] = l; return true }))
	require.Equal(t, slices.Sorted(maps.Keys(want.fuel)), slices.Sorted(maps.Keys(fuel)), "vehicles with fuel burnt")
	for v, l := range want.fuel {
		assert.InDelta(t, l, fuel[v], 1e-6, "fuel of %s", v)
	}
	assert.InDelta(t, want.fuelTotal*KgCO2PerLiter, got.CO2Kg, 1e-6)

	// CO2 per vehicle-minute and per fleet-minute: tumbling windows.
	vm := map[VehicleMinute]float64{}
	require.NoError(t, grid.GetMap[VehicleMinute, float64](m, VehicleMinuteMap).Scan(ctx, func(k VehicleMinute, kg float64) bool { vm[k] = kg; return true }))
	require.Len(t, vm, len(want.vehicleMinutes))
	for k, kg := range want.vehicleMinutes {
		assert.InDelta(t, kg, vm[k], 1e-6, "%+v", k)
	}
	fm := map[int64]float64{}
	require.NoError(t, grid.GetMap[int64, float64](m, FleetMinuteMap).Scan(ctx, func(k int64, kg float64) bool { fm[k] = kg; return true }))
	require.Len(t, fm, len(want.fleetMinutes))
	for k, kg := range want.fleetMinutes {
		assert.InDelta(t, kg, fm[k], 1e-6, "minute %v", time.Unix(k, 0).UTC())
	}
	require.True(t, got.HasForecast)
	assert.Equal(t, want.forecast.Minute, got.Forecast.Minute)
	assert.InDelta(t, want.forecast.MonthKg, got.Forecast.MonthKg, 1e-6)
	assert.InDelta(t, want.forecast.RateKgPerHour, got.Forecast.RateKgPerHour, 1e-6)
	assert.InDelta(t, want.forecast.BreachAt, got.Forecast.BreachAt, 1)

	// Alerts: once per vehicle, trip and kind.
	alerts := map[AlertKey]bool{}
	require.NoError(t, grid.GetMap[AlertKey, Alert](m, AlertsMap).Scan(ctx, func(k AlertKey, _ Alert) bool { alerts[k] = true; return true }))
	assert.Equal(t, want.alerts, alerts)
	for _, kind := range []AlertKind{Overload, Imbalance} {
		assert.Equal(t, want.alertCounts[kind], got.Alerts[kind], "%s alerts", kind)
	}

	// Trips: session windows, matched by the service. A position delayed
	// by ten minutes is behind the watermark (and counted late) unless the
	// slowest source instance is that far behind (on a loaded machine one
	// can start seconds after another): then it joins its trip. Either way,
	// every position is in a trip or counted late, never lost.
	trips := map[TripKey]Trip{}
	for _, tr := range got.Trips {
		trips[tr.TripKey] = tr
	}
	require.Equal(t, slices.SortedFunc(maps.Keys(want.trips), cmpTrip), slices.SortedFunc(maps.Keys(trips), cmpTrip))
	gotPositions, wantPositions := got.Late["position"], want.late["position"]
	for k, w := range want.trips {
		g := trips[k]
		gotPositions += int64(g.Waypoints)
		wantPositions += int64(w.Waypoints)
		assert.Equal(t, w.Parcels, g.Parcels, "%+v", k)
		if g.Waypoints == w.Waypoints {
			assert.InDelta(t, w.Km, g.Km, 1e-6, "%+v", k)
			assert.InDelta(t, w.KgCO2, g.KgCO2, 1e-6, "%+v", k)
		}
	}
	assert.Equal(t, wantPositions, gotPositions, "positions in trips or counted late")

	// Drivers: fuel and distance of the vehicles they drive.
	eco := map[string]Economy{}
	require.NoError(t, grid.GetMap[string, Economy](m, EconomyMap).Scan(ctx, func(d string, e Economy) bool { eco[d] = e; return true }))
	require.Equal(t, slices.Sorted(maps.Keys(want.economy)), slices.Sorted(maps.Keys(eco)))
	for d, e := range want.economy {
		assert.InDelta(t, e.Liters, eco[d].Liters, 1e-6, d)
	}

	// Late fuel readings: older than the vehicle's last.
	assert.Equal(t, want.late["fuel"], got.Late["fuel"])
	info, err := job.Info(ctx)
	require.NoError(t, err)
	assert.NotZero(t, info.Snapshots, "snapshots taken while it ran")
}

func cmpTrip(a, b TripKey) int {
	return cmp.Or(strings.Compare(a.Vehicle, b.Vehicle), cmp.Compare(a.Trip, b.Trip))
}

// expected is what the job should compute.
type expected struct {
	fuel           map[string]float64
	fuelTotal      float64
	vehicleMinutes map[VehicleMinute]float64
	fleetMinutes   map[int64]float64
	forecast       Forecast
	alerts         map[AlertKey]bool
	alertCounts    map[AlertKind]int64
	trips          map[TripKey]Trip
	economy        map[string]Economy
	late           map[string]int64
}

// reference computes the job's results with plain loops over the readings,
// each vehicle's in the order they arrive.
func reference(c fleet.Config, limitKg float64) expected {
	e := expected{fuel: map[string]float64{}, vehicleMinutes: map[VehicleMinute]float64{}, fleetMinutes: map[int64]float64{},
		alerts: map[AlertKey]bool{}, alertCounts: map[AlertKind]int64{}, trips: map[TripKey]Trip{}, economy: map[string]Economy{}, late: map[string]int64{}}
	vehicles := map[string]fleet.Vehicle{}
	for _, v := range c.Fleet() {
		vehicles[v.ID] = v
	}
	fuelStates := map[string]*fuelState{}
	positions := map[string][]fleet.Reading{}
	newest := map[string]int64{} // per vehicle: the latest position time seen
	c.ForEach(func(r fleet.Reading) {
		v := vehicles[r.Vehicle]
		switch r.Kind {
		case fleet.Fuel:
			st := fuelStates[r.Vehicle]
			if st == nil {
				st = &fuelState{}
				fuelStates[r.Vehicle] = st
			}
			s, ok := fuelStep(st, r.Vehicle, r)
			switch {
			case !ok:
			case s.Late:
				e.late["fuel"]++
			default:
				e.fuel[r.Vehicle] += s.Liters
				e.fuelTotal += s.Liters
				minute := r.Time().Truncate(time.Minute).Unix()
				e.vehicleMinutes[VehicleMinute{r.Vehicle, minute}] += s.Liters * KgCO2PerLiter
				e.fleetMinutes[minute] += s.Liters * KgCO2PerLiter
				d := e.economy[v.Driver]
				d.Liters += s.Liters
				e.economy[v.Driver] = d
			}
		case fleet.Load:
			for _, a := range checkLoad(r, v) {
				if !e.alerts[a.AlertKey] {
					e.alerts[a.AlertKey] = true
					e.alertCounts[a.Kind]++
				}
			}
		case fleet.Position:
			// A delayed position arrives minutes after the vehicle's
			// newer ones: the watermark has passed it.
			if r.TS < newest[r.Vehicle]-int64(AllowedLag) {
				e.late["position"]++
				return
			}
			newest[r.Vehicle] = max(newest[r.Vehicle], r.TS)
			positions[r.Vehicle] = append(positions[r.Vehicle], r)
		}
	})
	// Sessions: positions closer than the trip gap in event time.
	for id, ps := range positions {
		sorted := slices.SortedFunc(slices.Values(ps), func(a, b fleet.Reading) int { return int(a.TS - b.TS) })
		start := 0
		for i := 1; i <= len(sorted); i++ {
			if i < len(sorted) && sorted[i].TS-sorted[i-1].TS < int64(TripGap) {
				continue
			}
			session := sorted[start:i]
			start = i
			// The job's list keeps arrival order: its first is the first
			// to arrive of the session.
			first := session[0]
			for _, r := range ps {
				if r.TS >= session[0].TS && r.TS <= session[len(session)-1].TS {
					first = r
					break
				}
			}
			ws := make([]fleet.Waypoint, len(session))
			for j, r := range session {
				ws[j] = fleet.Waypoint{TS: r.TS, Lat: r.Lat, Lon: r.Lon}
			}
			t := withEmissions(Trip{TripKey: TripKey{id, first.Trip}, Waypoints: len(ws), Km: fleet.MatchedKm(ws), Parcels: first.Parcels}, vehicles[id])
			e.trips[t.TripKey] = t
			d := e.economy[vehicles[id].Driver]
			d.Km += t.Km
			e.economy[vehicles[id].Driver] = d
		}
	}
	f := Forecast{LimitKg: limitKg}
	for _, minute := range slices.Sorted(maps.Keys(e.fleetMinutes)) {
		start := time.Unix(minute, 0).UTC()
		f, _ = forecast(&f, "fleet", pipeline.WindowResult[struct{}, float64]{Start: start, End: start.Add(time.Minute), Value: e.fleetMinutes[minute]})
	}
	e.forecast = f
	return e
}

// The demo itself: a short run on one in-process member prints live
// summaries and the final report, and exits cleanly.
func TestDemoRunsAndReports(t *testing.T) {
	var out, errs bytes.Buffer
	code := run([]string{"--members", "1", "--vehicles", "100", "--rate", "2000", "--duration", "3s", "--every", "1s", "--snapshot-interval", "500ms"}, &out, &errs)
	require.Zero(t, code, "stderr: %s", errs.String())
	s := out.String()
	assert.Contains(t, s, "Go Green: 100 vehicles")
	assert.Contains(t, s, "top emitters: truck-")
	assert.Contains(t, s, "Go Green report after")
	assert.Contains(t, s, "job suspended")
	t.Log(s)
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--vehicles", "0"}, {"--rate", "-1"}, {"--members", "0"}, {"extra"}} {
		var out, errs bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errs), "%v", args)
		assert.Contains(t, errs.String(), "gogreen: ", "%v", args)
	}
}
