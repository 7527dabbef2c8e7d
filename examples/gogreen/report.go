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
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// summary is what the job has computed so far, read from its maps.
type summary struct {
	Job      dag.JobInfo
	Readings int64 // read by the source (while the job runs)

	FuelLiters  float64
	CO2Kg       float64
	Emitters    []amount // vehicles, most CO2 first
	LastMinute  time.Time
	LastMinKg   float64
	Minutes     int
	Forecast    Forecast
	HasForecast bool

	Alerts  map[AlertKind]int64
	Trips   []Trip
	Drivers []driverEconomy // best economy first
	Late    map[string]int64
}

type amount struct {
	Name string
	Kg   float64
}

type driverEconomy struct {
	Driver string
	Economy
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
		// Every reading goes to each of the three filters by kind: count
		// what the first one received.
		for _, pm := range ms {
			if pm.Vertex == "filter" {
				s.Readings += pm.ItemsIn
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
		return grid.GetMap[string, float64](m, FuelMap).Scan(ctx, func(_ string, l float64) bool { s.FuelLiters += l; return true })
	})
	scan(VehicleCO2Map, func() error {
		return grid.GetMap[string, float64](m, VehicleCO2Map).Scan(ctx, func(v string, kg float64) bool {
			s.Emitters = append(s.Emitters, amount{v, kg})
			s.CO2Kg += kg
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
	s.Late = map[string]int64{}
	scan(LateMap, func() error {
		return grid.GetMap[string, int64](m, LateMap).Scan(ctx, func(k string, n int64) bool { s.Late[k] = n; return true })
	})
	return s, err
}

func (s *summary) tripTotals() (km, kg float64, parcels int) {
	for _, t := range s.Trips {
		km += t.Km
		kg += t.KgCO2
		parcels += t.Parcels
	}
	return km, kg, parcels
}

func (s *summary) lateTotal() int64 {
	var n int64
	for _, v := range s.Late {
		n += v
	}
	return n
}

// printLive prints the compact summary.
func (s *summary) printLive(w io.Writer, elapsed time.Duration) {
	km, _, _ := s.tripTotals()
	fmt.Fprintf(w, "[%3.0fs] sim %s | %s readings | fleet %s CO2 (last minute %s) | %s L fuel | %d trips, %s km | alerts %d overload, %d imbalance | late %d | snapshots %d\n",
		elapsed.Seconds(), s.LastMinute.Format("Jan 2 15:04"), count(s.Readings), mass(s.CO2Kg), mass(s.LastMinKg), num(s.FuelLiters),
		len(s.Trips), num(km), s.Alerts[Overload], s.Alerts[Imbalance], s.lateTotal(), s.Job.Snapshots)
	if s.HasForecast {
		fmt.Fprintf(w, "       forecast: %s/h, %s by the month's end against %s allowed: %s\n",
			mass(s.Forecast.RateKgPerHour), mass(s.Forecast.ProjectedKg), mass(s.Forecast.LimitKg), s.Forecast.verdict())
	}
	var top []string
	for _, e := range s.Emitters[:min(5, len(s.Emitters))] {
		top = append(top, fmt.Sprintf("%s %s", e.Name, mass(e.Kg)))
	}
	fmt.Fprintf(w, "       top emitters: %s\n", strings.Join(top, ", "))
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
	km, tripKg, parcels := s.tripTotals()
	restarts := s.Job.Restarts
	if s.Job.Status == dag.Suspended {
		restarts-- // suspending prepared the execution a resume would start
	}
	fmt.Fprintf(w, "\nGo Green report after %s (%d simulated minutes, job %s, %d snapshots, %d restarts)\n",
		elapsed.Round(time.Second), s.Minutes, s.Job.Status, s.Job.Snapshots, restarts)
	fmt.Fprintf(w, "  fleet:    %s CO2 from %s L of fuel, %d vehicles reporting\n", mass(s.CO2Kg), num(s.FuelLiters), len(s.Emitters))
	if s.HasForecast {
		fmt.Fprintf(w, "  forecast: %s this month so far, %s/h, %s by the month's end against %s: %s\n",
			mass(s.Forecast.MonthKg), mass(s.Forecast.RateKgPerHour), mass(s.Forecast.ProjectedKg), mass(s.Forecast.LimitKg), s.Forecast.verdict())
	}
	fmt.Fprintf(w, "  trips:    %d matched to the roads, %s km, %s CO2 at nominal consumption\n", len(s.Trips), num(km), mass(tripKg))
	if parcels > 0 {
		// The range over trips that went somewhere: a trip of one
		// waypoint has no distance, and no emissions to share.
		lo, hi, moved := 0.0, 0.0, false
		for _, t := range s.Trips {
			if t.Waypoints < 2 || t.Parcels == 0 {
				continue
			}
			if !moved {
				lo, hi, moved = t.KgCO2PerParcel, t.KgCO2PerParcel, true
			}
			lo, hi = min(lo, t.KgCO2PerParcel), max(hi, t.KgCO2PerParcel)
		}
		fmt.Fprintf(w, "  parcels:  %d delivered, %s CO2 each on average (from %s to %s a trip)\n", parcels, mass(tripKg/float64(parcels)), mass(lo), mass(hi))
	}
	fmt.Fprintf(w, "  alerts:   %d overloaded trips, %d badly balanced loads\n", s.Alerts[Overload], s.Alerts[Imbalance])
	if n := len(s.Drivers); n > 0 {
		best, worst := s.Drivers[0], s.Drivers[n-1]
		fmt.Fprintf(w, "  drivers:  %d ranked (%d km or more); most economical %s at %.1f L/100 km, least %s at %.1f L/100 km\n",
			n, minRankedKm, best.Driver, best.per100(), worst.Driver, worst.per100())
	}
	fmt.Fprintf(w, "  late:     %d readings arrived too late to count (%d fuel, %d position)\n",
		s.lateTotal(), s.Late["fuel"], s.Late["position"])
	var top []string
	for _, e := range s.Emitters[:min(5, len(s.Emitters))] {
		top = append(top, fmt.Sprintf("%s %s", e.Name, mass(e.Kg)))
	}
	fmt.Fprintf(w, "  top emitters: %s\n", strings.Join(top, ", "))
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
