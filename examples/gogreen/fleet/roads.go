package fleet

import "math"

// The road network the trucks drive on, as the job sees it: segments with
// speed limits. A segment is a cell of the map, SegmentDeg on a side.

// SegmentDeg is the size of a road segment's cell, in degrees.
const SegmentDeg = 0.02

// SpeedTolerance is how far above a segment's limit a truck may be before
// it counts as speeding (km/h): GNSS speed is not exact.
const SpeedTolerance = 5.0

// Segment is the road segment at a position.
func Segment(lat, lon float64) int64 {
	return int64(math.Floor(lat/SegmentDeg))<<32 | int64(uint32(int32(math.Floor(lon/SegmentDeg))))
}

// SpeedLimit is the limit of the road segment at a position (km/h): most
// roads are 80, some 60 through villages, some 90 for trucks on motorways.
func SpeedLimit(lat, lon float64) float64 {
	switch h := unit(uint64(Segment(lat, lon)), 0x11); {
	case h < 0.25:
		return 60
	case h < 0.75:
		return 80
	}
	return 90
}

// Products are what the trucks carry: each trip carries parcels of one.
var Products = []string{"groceries", "furniture", "electronics", "building materials", "clothing", "pharmaceuticals"}
