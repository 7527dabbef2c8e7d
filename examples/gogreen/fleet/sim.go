package fleet

import (
	"math"
)

// level is the tank's level at step k, given the trip in progress or last
// made (j, -1 for none).
func (v *vehicle) level(j int, k int64) float64 {
	if j < 0 {
		return v.fuel0
	}
	t := &v.trips[j]
	if k <= t.end {
		return t.fuel0 - float64(k-t.start)*t.speedKm*t.l100/100
	}
	switch {
	case t.refuelStep >= 0 && k >= t.refuelStep:
		return v.TankLiters
	case t.theftStep >= 0 && k >= t.theftStep:
		return t.arrival() - t.theft
	}
	return t.arrival()
}

// driving reports whether the truck is out at step k: from its departure
// to its arrival, both at the depot.
func (v *vehicle) driving(j int, k int64) bool { return j >= 0 && k <= v.trips[j].end }

// position is where the truck is at step k while driving, and its speed:
// out along the trip's heading for half the trip, then back. The roads are
// RoadFactor longer than the straight line.
func (v *vehicle) position(j int, k int64) (lat, lon, kmh float64) {
	t := &v.trips[j]
	w, d := k-t.start, t.end-t.start
	out := float64(min(w, d-w)) * t.speedKm / RoadFactor
	lat = v.depotLat + out*math.Cos(t.heading)/kmPerDegree
	lon = v.depotLon + out*math.Sin(t.heading)/(kmPerDegree*math.Cos(v.depotLat*math.Pi/180))
	if w == 0 || w == d {
		return lat, lon, 0 // standing at the depot
	}
	limit := SpeedLimit(lat, lon)
	h := unit(uint64(v.i), uint64(k), 0x5d)
	if k == t.speedAt {
		return lat, lon, math.Round(limit + SpeedTolerance + 5 + 20*h)
	}
	return lat, lon, math.Round(min(v.cruise, limit) - 8*h)
}

// cargo is the load on each axle during trip j, its parcels and product.
func (c *Config) cargo(v *vehicle, j int64) (axles [3]float64, parcels int, product string) {
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(v.i), uint64(j)<<8|salt) }
	total := v.MaxLoadKg * (0.45 + 0.7*h(12))
	split := [3]float64{0.3, 0.35, 0.35}
	if h(13) < 0.08 {
		split = [3]float64{0.12, 0.28, 0.6} // loaded at the back
	}
	for a := range axles {
		axles[a] = math.Round(total*split[a]*10) / 10
	}
	return axles, 5 + int(40*h(14)), Products[int(h(22)*float64(len(Products)))]
}

const kmPerDegree = 111.2

// assignedAt is the step at which dispatch records vehicle i's driver for
// shift s: up to half an hour into the shift (or into the simulation).
func (c *Config) assignedAt(i int, s int64) int64 {
	first := (s*int64(c.Shift) - c.Start + int64(StepTime) - 1) / int64(StepTime)
	return max(0, first) + minutes(30*unit(c.Seed, uint64(i), uint64(s)<<8|0xa5))
}

// reading builds vehicle v's reading of kind at step k.
func (c *Config) reading(v *vehicle, kind Kind, k int64) Reading {
	j := c.plan(v, k)
	jitter := int64(4 * float64(1e9) * unit(c.Seed, uint64(v.i), uint64(k)<<8|uint64(kind)<<4|15))
	r := Reading{Kind: kind, Vehicle: v.ID, TS: c.Start + k*int64(StepTime) + jitter, Trip: int64(j)}
	switch kind {
	case Fuel:
		r.Liters = math.Round(v.level(j, k)*1000) / 1000
	case Load:
		r.Axles, _, _ = c.cargo(v, int64(j))
	case Position:
		r.Lat, r.Lon, r.SpeedKmh = v.position(j, k)
		_, r.Parcels, r.Product = c.cargo(v, int64(j))
	case Assignment:
		r.TS = c.Start + k*int64(StepTime)
		r.Shift = c.ShiftOf(r.TS)
		r.Driver = DriverID(c.DriverOf(v.i, r.Shift))
	}
	return r
}

// delayed reports whether vehicle i's reading of kind at step k reaches
// the cluster LateSteps late.
func (c *Config) delayed(i int, kind Kind, k int64) bool {
	return kind != Assignment && c.LateEvery > 0 && mix(c.Seed, uint64(i), uint64(k)<<8|uint64(kind)<<4|0xd)%uint64(c.LateEvery) == 0
}

// taken reports whether vehicle v takes a reading of kind at step k: all
// of them while it drives, its fuel level once a minute while it is
// parked, the assignment when dispatch records it.
func (c *Config) taken(v *vehicle, kind Kind, k int64) bool {
	if k < 0 || (c.Steps > 0 && k >= c.Steps) {
		return false
	}
	switch kind {
	case Assignment:
		return k == c.assignedAt(v.i, c.ShiftOf(c.Start+k*int64(StepTime)))
	case Fuel:
		if k%ParkedEvery == 0 {
			return true
		}
	}
	return v.driving(c.plan(v, k), k)
}

// appendStep appends, in the order they reach the cluster at step k,
// vehicle v's readings: the delayed ones taken LateSteps ago, then this
// step's.
func (c *Config) appendStep(buf []Reading, v *vehicle, k int64) []Reading {
	if c.LateEvery > 0 {
		old := k - c.LateSteps
		for _, kind := range kinds {
			if c.taken(v, kind, old) && c.delayed(v.i, kind, old) {
				buf = append(buf, c.reading(v, kind, old))
			}
		}
	}
	for _, kind := range kinds {
		if c.taken(v, kind, k) && !c.delayed(v.i, kind, k) {
			buf = append(buf, c.reading(v, kind, k))
		}
	}
	return buf
}

var kinds = [...]Kind{Assignment, Fuel, Load, Position}

// lastStep is the last step at which readings arrive (-1: endless).
func (c *Config) lastStep() int64 {
	if c.Steps == 0 {
		return -1
	}
	if c.LateEvery > 0 {
		return c.Steps - 1 + c.LateSteps
	}
	return c.Steps - 1
}

// ForEach calls fn with every reading of a bounded simulation, each
// vehicle's in the order they reach the cluster.
func (c Config) ForEach(fn func(Reading)) {
	last := c.lastStep()
	var buf []Reading
	for i := range c.Vehicles {
		v := c.vehicle(i)
		for k := int64(0); k <= last; k++ {
			buf = c.appendStep(buf[:0], &v, k)
			for _, r := range buf {
				fn(r)
			}
		}
	}
}

// mix is splitmix64 over the inputs: the simulation's only source of
// randomness, so that it is the same everywhere.
func mix(vals ...uint64) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, v := range vals {
		h ^= v
		h += 0x9e3779b97f4a7c15
		z := h
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		h = z ^ (z >> 31)
	}
	return h
}

// unit maps the inputs to [0, 1).
func unit(vals ...uint64) float64 { return float64(mix(vals...)>>11) / (1 << 53) }
