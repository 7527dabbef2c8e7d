package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/examples/gogreen/fleet"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// summary is what the job has computed so far, read from its maps.
type summary struct {
	Job      dag.JobInfo
	Readings int64 // read by the source in its current execution

	FuelLiters  float64
	Emitters    []amount // vehicles, most CO2 first
	LastMinute  time.Time
	LastMinKg   float64
	Minutes     int
	Forecast    Forecast
	HasForecast bool

	Alerts   map[AlertKind]int64
	Stolen   float64 // liters
	Worn     []string
	Trips    []Trip
	Drivers  []driverEconomy // best economy first
	Products []productFootprint
	Late     map[string]int64
}

type amount struct {
	Name string
	Kg   float64
}

type driverEconomy struct {
	Driver string
	Economy
}

type productFootprint struct {
	Product string
	Footprint
}

// per100 is the driver's consumption in liters per 100 km.
func (d driverEconomy) per100() float64 { return d.Liters / d.Km * 100 }

// minRankedKm is the distance a driver must have driven to be ranked.
const minRankedKm = 10

// collect reads the job's results from its maps.
func collect(ctx context.Context, m *member.Member, job *dag.Job, p Params) (summary, error) {
	var s summary
	var err error
	if s.Job, err = job.Info(ctx); err != nil {
		return s, err
	}
	if ms, err := job.Metrics(ctx); err == nil {
		for _, pm := range ms {
			if pm.Vertex == sourceVertex(p) {
				s.Readings += pm.ItemsOut
			}
		}
	}
	scan := func(what string, fn func() error) {
		if err == nil {
			if e := fn(); e != nil {
				err = fmt.Errorf("read %s: %w", what, e)
			}
		}
	}
	scan(FuelMap, func() error {
		return grid.GetMap[string, float64](m, FuelMap).Scan(ctx, func(v string, l float64) bool {
			s.Emitters = append(s.Emitters, amount{v, l * KgCO2PerLiter})
			s.FuelLiters += l
			return true
		})
	})
	slices.SortFunc(s.Emitters, func(a, b amount) int { return cmp.Or(cmp.Compare(b.Kg, a.Kg), cmp.Compare(a.Name, b.Name)) })
	scan(FleetMinuteMap, func() error {
		return grid.GetMap[int64, float64](m, FleetMinuteMap).Scan(ctx, func(minute int64, kg float64) bool {
			s.Minutes++
			if t := time.Unix(minute, 0).UTC(); t.After(s.LastMinute) {
				s.LastMinute, s.LastMinKg = t, kg
			}
			return true
		})
	})
	scan(ForecastMap, func() error {
		var e error
		s.Forecast, s.HasForecast, e = grid.GetMap[string, Forecast](m, ForecastMap).Get(ctx, "fleet")
		return e
	})
	s.Alerts = map[AlertKind]int64{}
	scan(AlertCountMap, func() error {
		return grid.GetMap[AlertKind, int64](m, AlertCountMap).Scan(ctx, func(k AlertKind, n int64) bool { s.Alerts[k] = n; return true })
	})
	scan(AlertsMap, func() error {
		return grid.GetMap[AlertKey, Alert](m, AlertsMap).Scan(ctx, func(k AlertKey, a Alert) bool {
			switch k.Kind {
			case Theft:
				s.Stolen += a.Value
			case Maintenance:
				s.Worn = append(s.Worn, k.Vehicle)
			}
			return true
		})
	})
	slices.Sort(s.Worn)
	scan(TripsMap, func() error {
		return grid.GetMap[TripKey, Trip](m, TripsMap).Scan(ctx, func(_ TripKey, t Trip) bool { s.Trips = append(s.Trips, t); return true })
	})
	scan(EconomyMap, func() error {
		return grid.GetMap[string, Economy](m, EconomyMap).Scan(ctx, func(d string, e Economy) bool {
			// A driver's economy means something over some distance.
			if e.Km >= minRankedKm && e.Liters > 0 {
				s.Drivers = append(s.Drivers, driverEconomy{d, e})
			}
			return true
		})
	})
	slices.SortFunc(s.Drivers, func(a, b driverEconomy) int {
		return cmp.Or(cmp.Compare(a.per100(), b.per100()), cmp.Compare(a.Driver, b.Driver))
	})
	scan(FootprintMap, func() error {
		return grid.GetMap[string, Footprint](m, FootprintMap).Scan(ctx, func(p string, f Footprint) bool {
			s.Products = append(s.Products, productFootprint{p, f})
			return true
		})
	})
	slices.SortFunc(s.Products, func(a, b productFootprint) int { return cmp.Compare(a.Product, b.Product) })
	s.Late = map[string]int64{}
	scan(LateMap, func() error {
		return grid.GetMap[string, int64](m, LateMap).Scan(ctx, func(k string, n int64) bool { s.Late[k] = n; return true })
	})
	return s, err
}

func (s *summary) tripTotals() (km, liters, kg float64, parcels int) {
	for _, t := range s.Trips {
		km += t.Km
		liters += t.Liters
		kg += t.KgCO2
		parcels += t.Parcels
	}
	return km, liters, kg, parcels
}

func (s *summary) lateTotal() int64 {
	var n int64
	for _, v := range s.Late {
		n += v
	}
	return n
}

func (s *summary) alertTotal() int64 {
	var n int64
	for _, v := range s.Alerts {
		n += v
	}
	return n
}

func (s *summary) alertList() string {
	var out []string
	for _, k := range alertKinds {
		out = append(out, fmt.Sprintf("%d %s", s.Alerts[k], k))
	}
	return strings.Join(out, ", ")
}

func (s *summary) topEmitters() string {
	var top []string
	for _, e := range s.Emitters[:min(5, len(s.Emitters))] {
		top = append(top, fmt.Sprintf("%s %s", e.Name, mass(e.Kg)))
	}
	return strings.Join(top, ", ")
}

// liveView prints the live summaries: what the job has committed, the
// rate it reads at and how far behind the simulated clock its results
// are. After a restart, the job's maps go back to what its snapshot held
// and catch up again: until they are back where they were, it says so
// instead of showing totals lower than before.
type liveView struct {
	p       Params
	speedup float64
	start   time.Time
	prevAt  time.Time
	prev    int64 // readings at prevAt
	shown   summary
}

func newLiveView(p Params, start time.Time) *liveView {
	return &liveView{p: p, speedup: p.Fleet.StepsPerSecond * fleet.StepTime.Seconds(), start: start, prevAt: start}
}

// behind says whether a total is lower than what was shown.
func (v *liveView) behind(s *summary) bool {
	sh := &v.shown
	return s.FuelLiters < sh.FuelLiters || len(s.Trips) < len(sh.Trips) || s.alertTotal() < sh.alertTotal() ||
		s.lateTotal() < sh.lateTotal() || s.Minutes < sh.Minutes
}

func (v *liveView) print(w io.Writer, s *summary, now time.Time) {
	elapsed := now.Sub(v.start)
	rate := "-"
	if s.Readings >= v.prev && now.After(v.prevAt) {
		rate = count(int64(float64(s.Readings-v.prev)/now.Sub(v.prevAt).Seconds())) + "/s"
	}
	v.prev, v.prevAt = s.Readings, now
	// Nothing but a restore makes a total fall.
	if s.Job.Status == dag.Restarting || v.behind(s) {
		from := "the beginning (no snapshot yet)"
		if s.Job.RestoredFrom > 0 {
			from = fmt.Sprintf("snapshot %d", s.Job.RestoredFrom)
		}
		fmt.Fprintf(w, "[%3.0fs] restoring: the job restarts from %s (restart %d); results resume where they were (%s CO2, %d trips) once it has caught up | reading %s\n",
			elapsed.Seconds(), from, s.Job.Restarts, mass(v.shown.FuelLiters*KgCO2PerLiter), len(v.shown.Trips), rate)
		return
	}
	v.shown = *s
	// The simulated clock, and how far behind it the results are: the
	// end of the last closed minute with fuel burnt (none before the first
	// truck leaves).
	due := v.p.Fleet.At(0).Add(time.Duration(float64(elapsed) * v.speedup))
	clock := fmt.Sprintf("sim %s, no minute closed yet", due.Format("15:04"))
	if s.Minutes > 0 {
		upTo := s.LastMinute.Add(time.Minute)
		clock = fmt.Sprintf("sim %s, results to %s: %s behind", due.Format("15:04"), upTo.Format("15:04"), simLag(due.Sub(upTo), v.speedup))
	}
	km, _, _, _ := s.tripTotals()
	fmt.Fprintf(w, "[%3.0fs] %s | reading %s (%s in all) | fleet %s CO2 from %s L (last minute %s) | %d trips, %s km | alerts %s | late %d | snapshots %d\n",
		elapsed.Seconds(), clock, rate, count(s.Readings), mass(s.FuelLiters*KgCO2PerLiter), num(s.FuelLiters), mass(s.LastMinKg),
		len(s.Trips), num(km), s.alertList(), s.lateTotal(), s.Job.Snapshots)
	if s.HasForecast {
		fmt.Fprintf(w, "       forecast: %s/h, %s by the month's end against %s allowed: %s\n",
			mass(s.Forecast.RateKgPerHour), mass(s.Forecast.ProjectedKg), mass(s.Forecast.LimitKg), s.Forecast.verdict())
	}
	fmt.Fprintf(w, "       top emitters: %s\n", s.topEmitters())
}

// simLag formats how far the results are behind the simulated clock, in
// simulated time and in seconds of the run.
func simLag(lag time.Duration, speedup float64) string {
	lag = max(lag, 0)
	return fmt.Sprintf("%s (%.1f s)", lag.Round(time.Second), lag.Seconds()/speedup)
}

func (f Forecast) verdict() string {
	if f.BreachAt == 0 {
		return "within the allowance"
	}
	if f.MonthKg >= f.LimitKg {
		return "allowance exceeded"
	}
	return "breach predicted " + time.Unix(f.BreachAt, 0).UTC().Format("Jan 2 15:04")
}

// printReport prints the final report.
func (s *summary) printReport(w io.Writer, elapsed time.Duration) {
	km, liters, tripKg, parcels := s.tripTotals()
	restarts := s.Job.Restarts
	if s.Job.Status == dag.Suspended {
		restarts-- // suspending prepared the execution a resume would start
	}
	upTo := "no minute complete"
	if s.Minutes > 0 {
		upTo = "up to " + s.LastMinute.Add(time.Minute).Format("Jan 2 15:04")
	}
	fmt.Fprintf(w, "\nGo Green report after %s (%d simulated minutes %s; job %s, %d snapshots, %d restarts)\n",
		elapsed.Round(time.Second), s.Minutes, upTo, s.Job.Status, s.Job.Snapshots, restarts)
	fmt.Fprintf(w, "  fleet:     %s CO2 from %s L of fuel burnt, %d trucks reporting\n", mass(s.FuelLiters*KgCO2PerLiter), num(s.FuelLiters), len(s.Emitters))
	if s.HasForecast {
		fmt.Fprintf(w, "  forecast:  %s this month so far, %s/h, %s by the month's end against %s: %s\n",
			mass(s.Forecast.MonthKg), mass(s.Forecast.RateKgPerHour), mass(s.Forecast.ProjectedKg), mass(s.Forecast.LimitKg), s.Forecast.verdict())
	}
	fmt.Fprintf(w, "  trips:     %d complete, %s km on the roads, %s L burnt (%.1f L/100 km), %s CO2\n", len(s.Trips), num(km), num(liters), liters/max(km, 1e-9)*100, mass(tripKg))
	if parcels > 0 {
		var ps []string
		for _, p := range s.Products {
			if p.Parcels > 0 {
				ps = append(ps, fmt.Sprintf("%s %s", p.Product, mass(p.KgCO2/float64(p.Parcels))))
			}
		}
		fmt.Fprintf(w, "  parcels:   %d delivered, %s CO2 each on average; by product: %s\n", parcels, mass(tripKg/float64(parcels)), strings.Join(ps, ", "))
	}
	if n := len(s.Drivers); n > 0 {
		best, worst := s.Drivers[0], s.Drivers[n-1]
		fmt.Fprintf(w, "  drivers:   %d ranked (%d km or more); most economical %s at %.1f L/100 km, least %s at %.1f L/100 km\n",
			n, minRankedKm, best.Driver, best.per100(), worst.Driver, worst.per100())
	}
	fmt.Fprintf(w, "  alerts:    %s", s.alertList())
	if s.Stolen > 0 {
		fmt.Fprintf(w, "; %s L of fuel stolen", num(s.Stolen))
	}
	fmt.Fprintln(w)
	if len(s.Worn) > 0 {
		fmt.Fprintf(w, "  maintenance: consumption climbing on %s\n", strings.Join(s.Worn, ", "))
	}
	fmt.Fprintf(w, "  late:      %d readings arrived too late to count (%d fuel, %d position)\n",
		s.lateTotal(), s.Late["fuel"], s.Late["position"])
	fmt.Fprintf(w, "  top emitters: %s\n", s.topEmitters())
}

// mass formats kilograms.
func mass(kg float64) string {
	switch {
	case kg >= 10_000:
		return fmt.Sprintf("%.1f t", kg/1000)
	case kg >= 1000:
		return fmt.Sprintf("%.2f t", kg/1000)
	case kg >= 10:
		return fmt.Sprintf("%.0f kg", kg)
	}
	return fmt.Sprintf("%.2f kg", kg)
}

func num(v float64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func count(n int64) string {
	if n >= 10_000 {
		return fmt.Sprintf("%.0fk", float64(n)/1000)
	}
	return fmt.Sprint(n)
}
