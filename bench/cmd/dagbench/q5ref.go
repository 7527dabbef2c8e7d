package main

import (
	"math"
	"time"
)

// q5Plain computes Q5 over bids 0..n-1 of the simulated stream in plain Go
// on one goroutine, the obvious way: count each auction's bids per frame
// (one slide of event time), keep the counts of the last size/slide frames
// summed in one map, and after each frame pick the window's top auction. It
// relies on the stream being in event-time order, which the engine may not
// assume. It is the check of the engine's results, and the reference for
// its speed: what one core does without an engine.
func q5Plain(n, base, rate int64, size, slide time.Duration) []hotItem {
	sz, sl := int64(size), int64(slide)
	var out []hotItem
	window := map[int64]int64{} // auction -> bids in the current window
	type frame struct {
		end    int64
		counts map[int64]int64
	}
	var frames []frame // the frames in the window, oldest first
	// closeFrame adds the frame ending at end to the window, which then ends
	// at end too, drops the frames that window no longer holds, and reports
	// its top.
	closeFrame := func(end int64, counts map[int64]int64) {
		for len(frames) > 0 && frames[0].end <= end-sz {
			for a, c := range frames[0].counts {
				if window[a] -= c; window[a] == 0 {
					delete(window, a)
				}
			}
			frames = frames[1:]
		}
		if len(counts) > 0 {
			for a, c := range counts {
				window[a] += c
			}
			frames = append(frames, frame{end, counts})
		}
		if top, ok := topOf(window); ok {
			top.End = end
			out = append(out, top)
		}
	}
	cur, curEnd := map[int64]int64{}, int64(math.MinInt64)
	for i := range n {
		b := bidAt(i, simulatedTime(base, rate, i))
		if fe := frameEnd(b.DateTime, sl); fe != curEnd {
			if curEnd != math.MinInt64 {
				closeFrame(curEnd, cur)
				for e := curEnd + sl; e < fe; e += sl {
					closeFrame(e, nil)
				}
			}
			cur, curEnd = map[int64]int64{}, fe
		}
		cur[b.Auction]++
	}
	if curEnd != math.MinInt64 {
		closeFrame(curEnd, cur)
		for e := curEnd + sl; e < curEnd+sz; e += sl {
			closeFrame(e, nil)
		}
	}
	return out
}

// topOf returns the auction with the most bids, the lowest id among equals.
func topOf(window map[int64]int64) (hotItem, bool) {
	best, found := hotItem{}, false
	for a, c := range window {
		if !found || c > best.Count || c == best.Count && a < best.Auction {
			best, found = hotItem{Auction: a, Count: c}, true
		}
	}
	return best, found
}

// frameEnd is the end of the frame of the given length holding time ts, as
// the engine cuts frames: [k*slide, (k+1)*slide).
func frameEnd(ts, slide int64) int64 {
	return ts - ((ts%slide)+slide)%slide + slide
}

// firstDifference compares Q5 outputs and describes the first difference,
// or returns "" when they are equal.
func firstDifference(got, want []hotItem) string { return firstDiff(got, want) }
