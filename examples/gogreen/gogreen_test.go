package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
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
)

func TestMain(m *testing.M) {
	clustertest.Services = weir.Services()
	clustertest.Parallel(4)
	goleak.VerifyTestMain(m, clustertest.LeakOptions()...)
}

// results are the job's maps, read whole.
type results struct {
	fuel           map[string]float64
	vehicleMinutes map[VehicleMinute]float64
	fleetMinutes   map[int64]float64
	forecast       Forecast
	hasForecast    bool
	alerts         map[AlertKey]Alert
	alertCounts    map[AlertKind]int64
	trips          map[TripKey]Trip
	economy        map[string]Economy
	footprint      map[string]Footprint
	late           map[string]int64
}

func readResults(ctx context.Context, t *testing.T, m *member.Member) results {
	r := results{}
	var err error
	read := func(e error) { err = e; require.NoError(t, err) }
	r.fuel = scanAll[string, float64](ctx, m, FuelMap, read)
	r.vehicleMinutes = scanAll[VehicleMinute, float64](ctx, m, VehicleMinuteMap, read)
	r.fleetMinutes = scanAll[int64, float64](ctx, m, FleetMinuteMap, read)
	r.forecast, r.hasForecast, err = grid.GetMap[string, Forecast](m, ForecastMap).Get(ctx, "fleet")
	require.NoError(t, err)
	r.alerts = scanAll[AlertKey, Alert](ctx, m, AlertsMap, read)
	r.alertCounts = scanAll[AlertKind, int64](ctx, m, AlertCountMap, read)
	r.trips = scanAll[TripKey, Trip](ctx, m, TripsMap, read)
	r.economy = scanAll[string, Economy](ctx, m, EconomyMap, read)
	r.footprint = scanAll[string, Footprint](ctx, m, FootprintMap, read)
	r.late = scanAll[string, int64](ctx, m, LateMap, read)
	return r
}

func scanAll[K comparable, V any](ctx context.Context, m *member.Member, name string, check func(error)) map[K]V {
	out := map[K]V{}
	check(grid.GetMap[K, V](m, name).Scan(ctx, func(k K, v V) bool { out[k] = v; return true }))
	return out
}

// checkDerived checks what the job derives from its own results: the
// drivers' economy, the products' footprint and the maintenance alerts from
// its complete trips, the forecast from its fleet minutes, the alert
// counts from its alerts.
func checkDerived(t *testing.T, got results, limitKg float64) {
	eco, foot, worn := fromTrips(got.trips)
	require.Equal(t, slices.Sorted(maps.Keys(eco)), slices.Sorted(maps.Keys(got.economy)), "drivers")
	for d, e := range eco {
		assert.InDelta(t, e.Liters, got.economy[d].Liters, 1e-6, d)
		assert.InDelta(t, e.Km, got.economy[d].Km, 1e-6, d)
		assert.Equal(t, e.Trips, got.economy[d].Trips, d)
	}
	require.Equal(t, slices.Sorted(maps.Keys(foot)), slices.Sorted(maps.Keys(got.footprint)), "products")
	for p, f := range foot {
		assert.InDelta(t, f.KgCO2, got.footprint[p].KgCO2, 1e-6, p)
		assert.Equal(t, f.Parcels, got.footprint[p].Parcels, p)
	}
	gotWorn := map[AlertKey]Alert{}
	counts := map[AlertKind]int64{}
	for k, a := range got.alerts {
		counts[k.Kind]++
		if k.Kind == Maintenance {
			gotWorn[k] = a
		}
	}
	assert.Equal(t, worn, gotWorn, "maintenance alerts")
	for _, k := range alertKinds {
		assert.Equal(t, counts[k], got.alertCounts[k], "%s alerts", k)
	}
	if len(got.fleetMinutes) > 0 {
		require.True(t, got.hasForecast)
		f := forecastOf(got.fleetMinutes, limitKg)
		assert.Equal(t, f.Minute, got.forecast.Minute)
		assert.InDelta(t, f.MonthKg, got.forecast.MonthKg, 1e-6)
		assert.InDelta(t, f.RateKgPerHour, got.forecast.RateKgPerHour, 1e-6)
		assert.InDelta(t, f.BreachAt, got.forecast.BreachAt, 1)
	}
}

// checkPerReading checks the results every reading adds to at once: fuel
// burnt, alerts of loads, speed and theft, late fuel readings.
func checkPerReading(t *testing.T, got results, want expected) {
	require.Equal(t, slices.Sorted(maps.Keys(want.fuel)), slices.Sorted(maps.Keys(got.fuel)), "vehicles with fuel burnt")
	for v, l := range want.fuel {
		assert.InDelta(t, l, got.fuel[v], 1e-6, "fuel of %s", v)
	}
	alerts := maps.Clone(got.alerts)
	maps.DeleteFunc(alerts, func(k AlertKey, _ Alert) bool { return k.Kind == Maintenance })
	assert.Equal(t, want.alerts, alerts)
	assert.Equal(t, want.late["fuel"], got.late["fuel"], "late fuel readings")
}

// checkTrip checks a complete trip against the plain computation's.
func checkTrip(t *testing.T, want, got Trip) {
	assert.Equal(t, want.Waypoints, got.Waypoints, "%+v", want.TripKey)
	assert.InDelta(t, want.Km, got.Km, 1e-6, "%+v", want.TripKey)
	assert.InDelta(t, want.Liters, got.Liters, 1e-9, "%+v", want.TripKey)
	assert.Equal(t, want.Driver, got.Driver, "%+v", want.TripKey)
	assert.Equal(t, want.Parcels, got.Parcels, "%+v", want.TripKey)
	assert.Equal(t, want.Product, got.Product, "%+v", want.TripKey)
	assert.Equal(t, want.Start, got.Start, "%+v", want.TripKey)
	assert.Equal(t, want.End, got.End, "%+v", want.TripKey)
}

// The job on 3 members, exactly-once with frequent snapshots, over a
// bounded simulation (04:00 to 08:00), gives what plain loops over the same
// readings compute; every kind of alert is raised.
func TestJobMatchesAPlainComputation(t *testing.T) {
	t.Parallel()
	c := clustertest.Start(t, 3, member.Config{})
	m := c.Members()[0]
	// A guard against a hang only: on a loaded machine this takes minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	matcher, err := fleet.StartMatcher("127.0.0.1:0", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = matcher.Close(); fleet.CloseClients() })

	cfg := fleet.DefaultConfig(40)
	cfg.Steps = 4 * 60 * fleet.StepsPerMinute
	cfg.LateEvery = 40
	// Paced, so that snapshots are taken while the readings flow (read as
	// fast as it goes, the simulation is over before the first).
	cfg.StepsPerSecond = 400
	p := Params{Fleet: cfg, MatchURL: matcher.URL, MonthlyLimitKg: 50_000}
	require.NoError(t, prepare(ctx, m, cfg))
	job, err := dag.Submit(ctx, m, JobName, p, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(200*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, job.Wait(ctx))
	got := readResults(ctx, t, m)
	want := reference(cfg, m.PartitionCount(), cfg.ForEach)

	checkPerReading(t, got, want)
	assert.Equal(t, want.vehicleMinutes, roundMap(got.vehicleMinutes, want.vehicleMinutes))
	assert.Equal(t, want.fleetMinutes, roundMap(got.fleetMinutes, want.fleetMinutes))
	require.Equal(t, slices.SortedFunc(maps.Keys(want.trips), cmpTrip), slices.SortedFunc(maps.Keys(got.trips), cmpTrip), "complete trips")
	for k, w := range want.trips {
		checkTrip(t, w, got.trips[k])
	}
	checkDerived(t, got, p.MonthlyLimitKg)
	assert.Equal(t, want.late["position"], got.late["position"], "late positions")
	assert.Positive(t, got.late["position"])
	for _, k := range alertKinds {
		assert.Positive(t, got.alertCounts[k], "%s alerts", k)
	}
	_, _, worn := fromTrips(want.trips)
	assert.NotEmpty(t, worn)
	info, err := job.Info(ctx)
	require.NoError(t, err)
	assert.NotZero(t, info.Snapshots, "snapshots taken while it ran")
}

// roundMap returns got, with each value replaced by want's if they differ
// only by float addition order.
func roundMap[K comparable](got, want map[K]float64) map[K]float64 {
	out := map[K]float64{}
	for k, g := range got {
		if w, ok := want[k]; ok && abs(w-g) < 1e-6 {
			g = w
		}
		out[k] = g
	}
	return out
}

func abs(f float64) float64 { return max(f, -f) }

// The demo in its default configuration (shortened), without a fault and
// with a member killed: its report and its maps equal a plain computation
// over the readings its final snapshot covers.
func TestDemoReportsWhatItsSnapshotCovers(t *testing.T) {
	// Not parallel: the member-killed case kills a member a set time into
	// the demo, and demos running beside it starve it of the CPU.
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no fault", []string{"--duration", "4s"}},
		{"member killed", []string{"--duration", "6s", "--kill-after", "3s", "--snapshot-interval", "500ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			o, err := parseFlags(append(tc.args, "--every", "500ms"), &errs)
			require.NoError(t, err)
			var want expected
			var got results
			var info dag.JobInfo
			o.inspect = func(ctx context.Context, m *member.Member, job *dag.Job, p Params) error {
				cut, err := finalCut(ctx, m, job)
				require.NoError(t, err)
				want = reference(p.Fleet, m.PartitionCount(), func(fn func(fleet.Reading)) { p.Fleet.ForEachIn(cut, fn) })
				got = readResults(ctx, t, m)
				checkDerived(t, got, p.MonthlyLimitKg)
				info, err = job.Info(ctx)
				return err
			}
			require.NoError(t, demo(context.Background(), o, &out, &errs), "stderr: %s", errs.String())
			t.Log(out.String())
			checkPerReading(t, got, want)
			// Windows: those closed equal the plain computation's, and all
			// the watermark had certainly passed are closed.
			wm := int64(1<<63 - 1)
			for _, ts := range want.highTS {
				wm = min(wm, ts)
			}
			wm -= int64(AllowedLag + time.Second)
			for k, kg := range got.vehicleMinutes {
				assert.InDelta(t, want.vehicleMinutes[k], kg, 1e-6, "%+v", k)
			}
			for k, kg := range want.vehicleMinutes {
				if (k.Minute+60)*1e9 <= wm {
					assert.Contains(t, got.vehicleMinutes, k, "closed minute")
				} else if _, ok := got.vehicleMinutes[k]; ok {
					assert.InDelta(t, kg, got.vehicleMinutes[k], 1e-6)
				}
			}
			for k, kg := range want.fleetMinutes {
				if (k+60)*1e9 <= wm {
					assert.InDelta(t, kg, got.fleetMinutes[k], 1e-6, "closed minute %v", time.Unix(k, 0).UTC())
				}
			}
			for k := range got.fleetMinutes {
				assert.InDelta(t, want.fleetMinutes[k], got.fleetMinutes[k], 1e-6)
			}
			for k, tr := range got.trips {
				require.Contains(t, want.trips, k)
				checkTrip(t, want.trips[k], tr)
			}
			// The report prints these figures.
			liters := 0.0
			for _, l := range want.fuel {
				liters += l
			}
			report := out.String()
			assert.Contains(t, report, fmt.Sprintf("fleet:     %s CO2 from %s L of fuel burnt, %d trucks reporting", mass(liters*KgCO2PerLiter), num(liters), len(want.fuel)))
			assert.Contains(t, report, fmt.Sprintf("trips:     %d complete", len(got.trips)))
			assert.Contains(t, report, "Go Green report after")
			assert.Contains(t, report, "job suspended")
			if tc.name == "member killed" {
				assert.Contains(t, report, "killed member gogreen-3")
				assert.GreaterOrEqual(t, info.Restarts, 2, "a restart after the kill, and the suspension")
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--vehicles", "0"}, {"--speedup", "-1"}, {"--members", "0"}, {"--members", "1", "--kill-after", "1s"}, {"extra"}} {
		var out, errs bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errs), "%v", args)
		assert.Contains(t, errs.String(), "gogreen: ", "%v", args)
	}
}

// After a restart the job's maps go back to its snapshot's and catch up:
// the live lines say so instead of printing lower totals.
func TestLiveTotalsNeverGoBackwards(t *testing.T) {
	t.Parallel()
	cfg := fleet.DefaultConfig(10)
	cfg.StepsPerSecond = 32
	start := time.Now()
	v := newLiveView(Params{Fleet: cfg}, start)
	at := func(liters float64, trips, restarts int, status dag.JobStatus) string {
		var b bytes.Buffer
		s := summary{Job: dag.JobInfo{Status: status, Restarts: restarts}, FuelLiters: liters, Trips: make([]Trip, trips),
			Minutes: 1, LastMinute: cfg.At(0)}
		v.print(&b, &s, time.Now())
		return b.String()
	}
	assert.Contains(t, at(100, 3, 0, dag.Running), "fleet 268 kg CO2 from 100 L")
	assert.Contains(t, at(80, 3, 1, dag.Restarting), "restoring: the job restarts")
	assert.Contains(t, at(90, 4, 1, dag.Running), "restoring: ", "fuel still below what was shown")
	assert.Contains(t, at(120, 2, 1, dag.Running), "restoring: ", "trips still below")
	assert.Contains(t, at(120, 5, 1, dag.Running), "fleet 322 kg CO2 from 120 L")
	assert.Contains(t, at(130, 5, 1, dag.Running), "fleet 348 kg CO2 from 130 L")
	// A restart the live lines did not see (over between two of them).
	assert.Contains(t, at(60, 5, 2, dag.Running), "restoring: ")
	assert.Contains(t, at(40, 5, 2, dag.Running), "restoring: ", "the maps written over by the restored job")
	assert.Contains(t, at(131, 6, 2, dag.Running), "fleet 351 kg CO2 from 131 L")
}
