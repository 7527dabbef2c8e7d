package fleet

import (
	"math"
	"sort"
	"time"
)

// A truck's day: it leaves its depot in the morning, drives trips out and
// back, parks between them to unload and load, and stays at the depot
// overnight. Parks are short in the morning and afternoon peaks and long
// around midday, so how many trucks drive, and so how many readings come,
// varies through the day. The plan of a truck is built trip by trip, each
// from the one before (the fuel left in the tank carries over), and kept:
// any step's state is a look-up.

// tripPlan is one trip and the park after it.
type tripPlan struct {
	start   int64   // step of the departure: first position, at the depot
	end     int64   // step of the arrival: last position, back at the depot
	next    int64   // step of the next departure
	speedKm float64 // road km per step while driving
	heading float64 // radians, of the outbound leg
	l100    float64 // liters per 100 road km on this trip
	speedAt int64   // step of a speeding burst, or -1
	fuel0   float64 // tank level at departure
	// After the arrival: fuel stolen at theftStep, or a refuel to full at
	// refuelStep (never both in one park).
	theft      float64
	theftStep  int64
	refuelStep int64
	shift      int64
	driver     int
}

// arrival is the tank's level when the trip ends.
func (t *tripPlan) arrival() float64 {
	return t.fuel0 - float64(t.end-t.start)*t.speedKm*t.l100/100
}

// vehicle is a truck's simulated behaviour.
type vehicle struct {
	Vehicle
	i        int
	cruise   float64 // km/h on the road
	depotLat float64
	depotLon float64
	fuel0    float64 // tank level at step 0
	faultAt  int64   // trip from which a part wears out (-1: none)
	trips    []tripPlan
}

func (c *Config) vehicle(i int) vehicle {
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(i), salt) }
	v := vehicle{Vehicle: c.record(i), i: i, cruise: 50 + 40*h(4), depotLat: 51.2 + 1.5*h(6), depotLon: -1.5 + 2.5*h(7), faultAt: -1}
	v.fuel0 = v.TankLiters * (0.3 + 0.7*h(10))
	if h(20) < 0.06 {
		v.faultAt = 1 + int64(3*h(21))
	}
	return v
}

// Wear is how much more than its plain consumption a truck burns on trip j
// once a part wears out: 7% more each trip.
func (v *vehicle) wear(j int64) float64 {
	if v.faultAt < 0 || j < v.faultAt {
		return 1
	}
	return 1 + 0.07*float64(j-v.faultAt+1)
}

// minutes is the step count of m simulated minutes.
func minutes(m float64) int64 { return int64(m * float64(StepsPerMinute)) }

// hourOf is the simulated hour of day (0-24) of step k.
func (c *Config) hourOf(k int64) float64 {
	t := c.At(k)
	return float64(t.Hour()) + float64(t.Minute())/60
}

// firstDeparture is when the truck leaves on the day of step k: between
// 05:00 and 06:30.
func (c *Config) firstDeparture(v *vehicle, k int64) int64 {
	t := c.At(k)
	morning := time.Date(t.Year(), t.Month(), t.Day(), 5, 0, 0, 0, time.UTC)
	day := uint64(morning.Unix() / 86400)
	offset := time.Duration(unit(c.Seed, uint64(v.i), day<<8|0x30) * float64(90*time.Minute))
	return (morning.Add(offset).UnixNano() - c.Start) / int64(StepTime)
}

// park is how long the truck stays after arriving at step k.
func (c *Config) park(v *vehicle, j, k int64) int64 {
	h := unit(c.Seed, uint64(v.i), uint64(j)<<8|0x31)
	switch hr := c.hourOf(k); {
	case hr >= 6.5 && hr < 9.5, hr >= 15.5 && hr < 18.5: // the peaks
		return minutes(6 + 6*h)
	case hr >= 11 && hr < 14:
		return minutes(25 + 30*h)
	}
	return minutes(10 + 12*h)
}

// plan extends the truck's plan to cover step k and returns the index of
// the trip in progress or last made at step k (-1: none yet).
func (c *Config) plan(v *vehicle, k int64) int {
	for len(v.trips) == 0 || v.trips[len(v.trips)-1].next <= k {
		c.addTrip(v)
	}
	// The last trip that departed at or before k.
	j := sort.Search(len(v.trips), func(j int) bool { return v.trips[j].start > k }) - 1
	return j
}

func (c *Config) addTrip(v *vehicle) {
	j := int64(len(v.trips))
	h := func(salt uint64) float64 { return unit(c.Seed, uint64(v.i), uint64(j)<<8|salt) }
	var t tripPlan
	if j == 0 {
		t.start = max(1, c.firstDeparture(v, 0))
		t.fuel0 = v.fuel0
	} else {
		prev := &v.trips[j-1]
		t.start = prev.next
		t.fuel0 = prev.arrival() - prev.theft
		if prev.refuelStep >= 0 {
			t.fuel0 = v.TankLiters
		}
	}
	t.shift = c.ShiftOf(c.At(t.start).UnixNano())
	t.driver = c.DriverOf(v.i, t.shift)
	t.speedKm = v.cruise * StepTime.Hours()
	t.heading = 2 * math.Pi * h(11)
	t.l100 = v.LitersPer100km * c.DriverStyle(t.driver) * v.wear(j)
	drive := minutes(12 + 14*h(5))
	drive -= drive % 2 // out and back in whole steps
	t.end = t.start + drive
	t.speedAt = -1
	if h(15) < 0.25*c.DriverStyle(t.driver)-0.2 { // heavier feet speed more
		t.speedAt = t.start + 2 + int64(h(16)*float64(drive-4))
	}
	t.next = t.end + c.park(v, j, t.end)
	t.refuelStep, t.theftStep = -1, -1
	left := t.arrival()
	switch {
	case left < 0.3*v.TankLiters:
		t.refuelStep = t.end + 3
	case h(17) < 0.04 && t.next-t.end > minutes(8):
		// Thieves siphon a parked truck, a while after it arrived.
		t.theftStep = t.end + minutes(3) + int64(h(18)*float64(t.next-t.end-minutes(5)))
		t.theft = math.Round(min(40+80*h(19), left-0.1*v.TankLiters))
	}
	if c.hourOf(t.next) >= 21 || c.hourOf(t.next) < 5 || t.next-t.start > minutes(24*60) {
		// Overnight at the depot: out again the next morning.
		t.next = max(t.next, c.firstDeparture(v, t.next+minutes(4*60)))
	}
	v.trips = append(v.trips, t)
}

// ExpectedLitersPerDay is what the whole fleet burns in its first
// simulated day.
func (c Config) ExpectedLitersPerDay() float64 {
	day := int64(24 * time.Hour / StepTime)
	total := 0.0
	for i := range c.Vehicles {
		v := c.vehicle(i)
		for j := c.plan(&v, day); j >= 0; j-- {
			t := &v.trips[j]
			total += float64(min(t.end, day)-min(t.start, day)) * t.speedKm * t.l100 / 100
		}
	}
	return total
}
