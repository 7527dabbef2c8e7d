package main

import (
	"time"

	"github.com/weir-dev/weir/pipeline"
)

// Forecast predicts whether the fleet will exceed its monthly CO2
// allowance, from the emissions so far this month and the recent rate.
type Forecast struct {
	Month         int64   `msgpack:"o"` // unix s of the month's start
	Minute        int64   `msgpack:"m"` // unix s of the last minute counted
	MonthKg       float64 `msgpack:"k"` // emitted this month so far
	RateKgPerHour float64 `msgpack:"r"` // recent rate, smoothed
	ProjectedKg   float64 `msgpack:"p"` // by the month's end at that rate
	LimitKg       float64 `msgpack:"l"`
	// BreachAt is when the allowance runs out at that rate (unix s), if
	// within the month; 0 otherwise.
	BreachAt int64 `msgpack:"b,omitempty"`
}

// rateSmoothing weighs the latest minute in the smoothed rate.
const rateSmoothing = 0.1

// forecast folds one minute of fleet emissions into the forecast.
func forecast(f *Forecast, _ string, w pipeline.WindowResult[struct{}, float64]) (Forecast, bool) {
	start := w.Start.UTC()
	month := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	if f.Month != month.Unix() {
		f.Month, f.MonthKg = month.Unix(), 0
	}
	f.Minute = start.Unix()
	f.MonthKg += w.Value
	perHour := w.Value * float64(time.Hour/w.End.Sub(w.Start))
	if f.RateKgPerHour == 0 {
		f.RateKgPerHour = perHour
	} else {
		f.RateKgPerHour += rateSmoothing * (perHour - f.RateKgPerHour)
	}
	left := month.AddDate(0, 1, 0).Sub(w.End).Hours()
	f.ProjectedKg = f.MonthKg + f.RateKgPerHour*left
	switch {
	case f.LimitKg <= 0:
		f.BreachAt = 0
	case f.MonthKg >= f.LimitKg:
		f.BreachAt = w.End.Unix()
	case f.ProjectedKg > f.LimitKg:
		f.BreachAt = w.End.Add(time.Duration((f.LimitKg - f.MonthKg) / f.RateKgPerHour * float64(time.Hour))).Unix()
	default:
		f.BreachAt = 0
	}
	return *f, true
}
