package sources

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/pipeline"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) add(d time.Duration)  { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock            { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func seqOf(seq, _ int64) int64            { return seq }
func streamItem(seq, ts int64) StreamItem { return StreamItem{Seq: seq, TS: ts} }
func genItems[T any](items []pipeline.SourceItem[T]) []T {
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.V
	}
	return out
}

// split divides n partitions among k instances the way a job does (p%k).
func split(n, k int) [][]int {
	out := make([][]int, k)
	for p := range n {
		out[p%k] = append(out[p%k], p)
	}
	return out
}

// drain reads everything due from every reader, and reports whether all
// are done.
func drain[T any](t *testing.T, rs []*genReader[T]) (items []pipeline.SourceItem[T], allDone bool) {
	t.Helper()
	allDone = true
	for _, r := range rs {
		for {
			buf, done, err := r.Read(nil, 7)
			require.NoError(t, err)
			items = append(items, buf...)
			if done || len(buf) == 0 {
				allDone = allDone && done
				break
			}
		}
	}
	return items, allDone
}

func sortedSeqs(items []pipeline.SourceItem[int64]) []int64 {
	return slices.Sorted(slices.Values(genItems(items)))
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s < to; s++ {
		out = append(out, s)
	}
	return out
}

// TestGenReaderRate counts what three instances sharing a rate generate as
// their clock moves: exactly the sequence numbers due, whatever the split.
func TestGenReaderRate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	const rate = 1000 // one item a millisecond in the whole job
	c := genConfig{start: clock.now()}
	var rs []*genReader[int64]
	for _, parts := range split(271, 3) {
		rs = append(rs, newGenReader(seqOf, parts, 271, rate, c, clock.now))
	}
	items, done := drain(t, rs)
	require.False(t, done)
	require.Equal(t, []int64{0}, sortedSeqs(items), "at the start, only item 0 is due")

	clock.add(time.Second)
	more, _ := drain(t, rs)
	items = append(items, more...)
	require.Equal(t, seqRange(0, 1001), sortedSeqs(items), "one second later, items 0 to 1000")

	clock.add(250 * time.Millisecond)
	more, _ = drain(t, rs)
	require.Equal(t, seqRange(1001, 1251), sortedSeqs(more))
	nothing, _ := drain(t, rs)
	require.Empty(t, nothing, "nothing before the clock moves")
}

// TestGenReaderTimestamps stamps item s with the time it was due, base +
// s/rate; unlimited, with the time it was generated.
func TestGenReaderTimestamps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.now().Add(-time.Hour) // in the past: catch up at once
	r := newGenReader(streamItem, split(271, 1)[0], 271, 100, genConfig{start: start, limit: 500, limited: true}, clock.now)
	items, done := drain(t, []*genReader[StreamItem]{r})
	require.True(t, done)
	require.Len(t, items, 500)
	for i, it := range items {
		require.Equal(t, int64(i), it.V.Seq)
		want := start.Add(time.Duration(i) * 10 * time.Millisecond).UnixNano()
		require.Equal(t, want, it.TS, "item %d", i)
		require.Equal(t, want, it.V.TS)
	}

	unlimited := newGenReader(streamItem, []int{0, 1}, 271, 0, genConfig{}, clock.now)
	buf, _, err := unlimited.Read(nil, 4)
	require.NoError(t, err)
	require.Len(t, buf, 4)
	for _, it := range buf {
		require.Equal(t, clock.now().UnixNano(), it.TS)
	}
	require.Equal(t, []int64{0, 1, 271, 272}, []int64{buf[0].V.Seq, buf[1].V.Seq, buf[2].V.Seq, buf[3].V.Seq})
}

// TestGenReaderLimit generates each number below the limit once, and an
// instance whose numbers are all past it ends at once, not when they would
// be due.
func TestGenReaderLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var rs []*genReader[int64]
	for _, parts := range split(271, 4) {
		rs = append(rs, newGenReader(seqOf, parts, 271, 0, genConfig{limit: 1000, limited: true}, clock.now))
	}
	items, done := drain(t, rs)
	require.True(t, done)
	require.Equal(t, seqRange(0, 1000), sortedSeqs(items))

	late := newGenReader(seqOf, []int{200, 250}, 271, 1, genConfig{limit: 100, limited: true}, clock.now)
	buf, done, err := late.Read(nil, 10)
	require.NoError(t, err)
	require.True(t, done, "numbers 200 and 250 are past the limit: nothing to wait for")
	require.Empty(t, buf)

	future := newGenReader(seqOf, []int{200}, 271, 1, genConfig{limit: 100, limited: true, start: clock.now().Add(time.Hour)}, clock.now)
	_, done, err = future.Read(nil, 10)
	require.NoError(t, err)
	require.True(t, done, "nothing to wait for, even before the start")

	none := newGenReader(seqOf, nil, 271, 0, genConfig{}, clock.now)
	_, done, err = none.Read(nil, 10)
	require.NoError(t, err)
	require.True(t, done, "an instance without partitions has nothing to generate")

	require.ErrorContains(t, genConfig{limit: -1, limited: true}.validate(-5), "rate -5 items per second")
	require.ErrorContains(t, genConfig{limit: -1, limited: true}.validate(-5), "Limit(-1): it must not be negative")
}

// TestGenReaderResumes stops generators at several points, saves their
// positions and resumes them split another way (a restart on another
// number of members): every number is generated exactly once.
func TestGenReaderResumes(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	const limit = 2000
	for _, stop := range []int{0, 1, 13, 500, 1999} {
		c := genConfig{limit: limit, limited: true}
		var first []*genReader[int64]
		for _, parts := range split(271, 3) {
			first = append(first, newGenReader(seqOf, parts, 271, 0, c, clock.now))
		}
		// Read unevenly: the first instance gets ahead of the others.
		var got []int64
		positions := map[string][]byte{}
		for i, r := range first {
			n := stop / (i + 1)
			for len(got) < stop && n > 0 {
				buf, _, err := r.Read(nil, min(n, 64))
				require.NoError(t, err)
				got = append(got, genItems(buf)...)
				n -= len(buf)
				if len(buf) == 0 {
					break
				}
			}
			pos, err := r.Positions()
			require.NoError(t, err)
			for k, v := range pos {
				positions[k] = v
			}
		}
		var second []*genReader[int64]
		for _, parts := range split(271, 2) {
			r := newGenReader(seqOf, parts, 271, 0, c, clock.now)
			require.NoError(t, r.Seek(positions))
			second = append(second, r)
		}
		rest, done := drain(t, second)
		require.True(t, done)
		all := append(got, genItems(rest)...)
		require.Equal(t, seqRange(0, limit), slices.Sorted(slices.Values(all)), "stopped after %d", stop)
	}
	bad := newGenReader(seqOf, []int{3}, 271, 0, genConfig{}, clock.now)
	require.ErrorContains(t, bad.Seek(map[string][]byte{"3": {4}}), "bad position")
}
