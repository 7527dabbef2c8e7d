package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuel a truck burns on a trip is its road distance times its
// consumption, never below the truck's nominal; the distance matched from
// its positions is that road distance.
func TestFuelBurnsOverTheMatchedDistance(t *testing.T) {
	c := DefaultConfig(30)
	c.Steps = 8 * 60 * StepsPerMinute
	for i := range c.Vehicles {
		v := c.vehicle(i)
		n := c.plan(&v, c.Steps)
		for j := range n {
			tr := v.trips[j]
			var ws []Waypoint
			for k := tr.start; k <= tr.end; k++ {
				lat, lon, _ := v.position(j, k)
				ws = append(ws, Waypoint{TS: c.At(k).UnixNano(), Lat: lat, Lon: lon})
			}
			road := float64(tr.end-tr.start) * tr.speedKm
			require.InDelta(t, road, MatchedKm(ws), road*1e-3, "%s trip %d", v.ID, j)
			burnt := v.level(j, tr.start) - v.level(j, tr.end)
			require.InDelta(t, road*tr.l100/100, burnt, 1e-9)
			require.GreaterOrEqual(t, burnt/MatchedKm(ws)*100, v.LitersPer100km*(1-1e-3), "%s trip %d", v.ID, j)
		}
	}
}

// The readings' rate follows the day: a few trucks before dawn, most in
// the morning peak. Every situation the job looks for happens.
func TestTheDayHasPeaksAndEverySituation(t *testing.T) {
	c := DefaultConfig(100)
	c.Steps = 4 * 60 * StepsPerMinute // 04:00 to 08:00
	c.LateEvery = 0
	perHour := map[int]int{}
	drivers := map[int64]map[string]string{}
	speeding, thefts, worn := 0, 0, 0
	c.ForEach(func(r Reading) {
		perHour[r.Time().Hour()]++
		if r.Kind == Assignment {
			if drivers[r.Shift] == nil {
				drivers[r.Shift] = map[string]string{}
			}
			drivers[r.Shift][r.Driver] = r.Vehicle
		}
		if r.Kind == Position && r.SpeedKmh > SpeedLimit(r.Lat, r.Lon)+SpeedTolerance {
			speeding++
		}
	})
	for i := range c.Vehicles {
		v := c.vehicle(i)
		for j := range c.plan(&v, c.Steps) {
			if v.trips[j].theftStep >= 0 && v.trips[j].theftStep < c.Steps {
				thefts++
			}
		}
		if v.faultAt >= 0 {
			worn++
		}
	}
	t.Logf("readings per hour %v; %d speeding positions, %d thefts, %d worn trucks", perHour, speeding, thefts, worn)
	assert.Greater(t, perHour[7], 5*perHour[4], "the morning peak against the night")
	assert.Positive(t, speeding)
	assert.Positive(t, thefts)
	assert.Positive(t, worn)
	// Each shift, every driver has one truck; drivers change trucks.
	shift := c.ShiftOf(time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC).UnixNano())
	require.Len(t, drivers[shift], c.Vehicles)
	require.Len(t, drivers[shift+1], c.Vehicles)
	moved := 0
	for d, v := range drivers[shift] {
		if drivers[shift+1][d] != v {
			moved++
		}
	}
	assert.Greater(t, moved, c.Vehicles/2)
}

// ForEachIn a cut gives the readings a source that stopped there had
// read: a source reading as far, step by step, reads the same.
func TestCutCoversWhatTheSourceRead(t *testing.T) {
	c := DefaultConfig(20)
	const partitions = 7
	cut := Cut{Partitions: partitions, Positions: map[int]Offset{}}
	want := map[string][]Reading{}
	for p := range partitions {
		part := &partition{id: p}
		for i := p; i < c.Vehicles; i += partitions {
			part.vehicles = append(part.vehicles, i)
			part.sims = append(part.sims, c.vehicle(i))
		}
		steps := int64(200 + 37*p)
		for k := range steps {
			part.generate(&c, k)
		}
		read := len(part.pending) / 2
		for _, r := range part.pending[:read] {
			want[r.Vehicle] = append(want[r.Vehicle], r)
		}
		cut.Positions[p] = Offset{Step: steps, Read: read}
		// The steps before the last one, in full.
		for j, i := range part.vehicles {
			v := c.vehicle(i)
			var got []Reading
			for k := range steps - 1 {
				got = c.appendStep(got, &v, k)
			}
			want[part.sims[j].ID] = append(got, want[part.sims[j].ID]...)
		}
	}
	got := map[string][]Reading{}
	c.ForEachIn(cut, func(r Reading) { got[r.Vehicle] = append(got[r.Vehicle], r) })
	require.Equal(t, want, got)
	off, err := DecodeOffset(Offset{Step: 12, Read: 3}.Encode())
	require.NoError(t, err)
	assert.Equal(t, Offset{Step: 12, Read: 3}, off)
	_, err = DecodeOffset([]byte{0xff})
	assert.Error(t, err)
}
