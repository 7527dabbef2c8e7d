package fleet

import (
	"math"
)

// A vehicle's day is a cycle: it drives a trip out from its depot and back,
// then parks to load and deliver. Its fuel burns with the distance driven
// and is topped up each time a quarter of the tank is left. Each trip
// carries its own cargo: some trips overload the truck, a few load it
// unevenly.

// cycle returns the trip the vehicle is on at step k and how many steps
// into its cycle it is.
func (v *vehicle) cycle(k int64) (trip, within int64) {
	s := k + v.phase
	return s / v.cycleSteps, s % v.cycleSteps
}

func (v *vehicle) driving(k int64) bool {
	_, w := v.cycle(k)
	return w < v.driveSteps
}

// km is the distance the vehicle has driven by step k, since its first
// trip.
func (v *vehicle) km(k int64) float64 {
	trip, w := v.cycle(k)
	return float64(trip*v.driveSteps+min(w, v.driveSteps)) * v.speedKm
}

// fuel is the tank's level at step k.
func (v *vehicle) fuel(k int64) float64 {
	used := v.usedBefore + v.km(k)*v.LitersPer100km/100
	return v.TankLiters - math.Mod(used, 0.75*v.TankLiters)
}

// position is where the vehicle is at step k while driving: out along the
// trip's heading for half the trip, then back to the depot.
func (v *vehicle) position(c *Config, i int, k int64) (lat, lon float64) {
	trip, w := v.cycle(k)
	out := min(w, v.driveSteps-w)
	d := float64(out) * v.speedKm
	heading := 2 * math.Pi * unit(c.Seed, uint64(i), uint64(trip)<<8|11)
	lat = v.depotLat + d*math.Cos(heading)/kmPerDegree
	lon = v.depotLon + d*math.Sin(heading)/(kmPerDegree*math.Cos(v.depotLat*math.Pi/180))
	return lat, lon
}

// cargo is the load on each axle during a trip, and its parcels.
func (v *vehicle) cargo(c *Config, i int, trip int64) (axles [3]float64, parcels int) {
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(i), uint64(trip)<<8|salt) }
	total := v.MaxLoadKg * (0.45 + 0.7*h(12))
	split := [3]float64{0.3, 0.35, 0.35}
	if h(13) < 0.08 {
		split = [3]float64{0.12, 0.28, 0.6} // loaded at the back
	}
	for a := range axles {
		axles[a] = math.Round(total*split[a]*10) / 10
	}
	return axles, 5 + int(40*h(14))
}

const kmPerDegree = 111.2

// reading builds vehicle i's reading of kind at step k.
func (c *Config) reading(v *vehicle, i int, kind Kind, k int64) Reading {
	jitter := int64(4 * float64(1e9) * unit(c.Seed, uint64(i), uint64(k)<<8|uint64(kind)<<4|15))
	trip, _ := v.cycle(k)
	r := Reading{Kind: kind, Vehicle: v.ID, TS: c.Start + k*int64(StepTime) + jitter, Step: k, Trip: trip}
	switch kind {
	case Fuel:
		r.Liters = math.Round(v.fuel(k)*1000) / 1000
	case Load:
		r.Axles, _ = v.cargo(c, i, trip)
	case Position:
		r.Lat, r.Lon = v.position(c, i, k)
		_, r.Parcels = v.cargo(c, i, trip)
	}
	return r
}

// delayed reports whether vehicle i's reading of kind at step k reaches
// the cluster LateSteps late.
func (c *Config) delayed(i int, kind Kind, k int64) bool {
	return c.LateEvery > 0 && mix(c.Seed, uint64(i), uint64(k)<<8|uint64(kind)<<4|0xd)%uint64(c.LateEvery) == 0
}

// taken reports whether vehicle i takes a reading of kind at step k: GNSS
// positions only while it drives.
func (c *Config) taken(v *vehicle, kind Kind, k int64) bool {
	return k >= 0 && (c.Steps == 0 || k < c.Steps) && (kind != Position || v.driving(k))
}

// appendStep appends, in the order the vehicle's unit sends them, the
// readings that reach the cluster at step k: the delayed ones taken
// LateSteps ago, then this step's.
func (c *Config) appendStep(buf []Reading, v *vehicle, i int, k int64) []Reading {
	if c.LateEvery > 0 {
		old := k - c.LateSteps
		for _, kind := range kinds {
			if c.taken(v, kind, old) && c.delayed(i, kind, old) {
				buf = append(buf, c.reading(v, i, kind, old))
			}
		}
	}
	for _, kind := range kinds {
		if c.taken(v, kind, k) && !c.delayed(i, kind, k) {
			buf = append(buf, c.reading(v, i, kind, k))
		}
	}
	return buf
}

var kinds = [...]Kind{Fuel, Load, Position}

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
			buf = c.appendStep(buf[:0], &v, i, k)
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
