package harness

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// trimLines drops the spaces tabwriter pads empty last cells with, which a
// test should not depend on.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func printed(rep Report) string {
	var b strings.Builder
	rep.Print(&b)
	return trimLines(b.String())
}

var (
	itemsUnit = PerSecond("items")
	bytesUnit = func(v float64) string { return fmt.Sprintf("%.1f B", v) }
)

func TestReportRows(t *testing.T) {
	nan := math.NaN()
	rep := Report{
		Header: "bench: test",
		Sections: []Section{{
			Title: "1. rows",
			Rows: []Row{
				RatioRow("met", 2e6, 1e6, itemsUnit, AtLeast(1.5), nil),
				RatioRow("missed", 1e6, 2e6, itemsUnit, AtLeast(1), nil),
				RatioRow("at most", 90, 100, bytesUnit, AtMost(1), nil),
				RatioRow("no target", 1500, 500, itemsUnit, NoTarget, nil),
				RatioRow("no reference, ratio target", 1e6, nan, itemsUnit, AtLeast(1), nil),
				RatioRow("no reference, own target", 50, nan, bytesUnit, AbsAtMost(100, bytesUnit), nil),
				RatioRow("weir not measured", nan, nan, bytesUnit, AbsBelow(100, bytesUnit), nil),
				RatioRow("reported", 5, nan, bytesUnit, Reported, nil),
				RatioRow("failed", 1e6, 1e6, itemsUnit, AbsAtLeast(1, itemsUnit), errors.New("boom\nsecond line")),
				CheckRow("check", true, "10 windows", nil),
				CheckRow("check differs", false, "10 windows", nil),
				CheckRow("check failed", true, "10 windows", errors.New("job failed")),
			},
			Notes: []string{"a note"},
		}},
	}
	want := `bench: test

1. rows
                              weir           reference      weir/ref  target        result
  met                         2.00M items/s  1.00M items/s  2.000x    >= 1.5x       ok
  missed                      1.00M items/s  2.00M items/s  0.500x    >= 1x         MISSED
  at most                     90.0 B         100.0 B        0.900x    <= 1x         ok
  no target                   1.5k items/s   500 items/s    3.000x
  no reference, ratio target  1.00M items/s  n/a                      >= 1x         not measured
  no reference, own target    50.0 B         n/a                      <= 100.0 B    ok
  weir not measured           n/a            n/a                      < 100.0 B     not measured
  reported                    5.0 B          n/a                      reported      ok
  failed                      1.00M items/s  1.00M items/s  1.000x    >= 1 items/s  error: boom
  check                       10 windows                              equal         ok
  check differs               10 windows                              equal         MISMATCH
  check failed                10 windows                              equal         error: job failed
  note: a note
`
	if got := printed(rep); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A program whose missing references are failures says n/a in the ratio
// column, instead of leaving it empty.
func TestReportNoRatio(t *testing.T) {
	rep := Report{
		Header:   "bench: test",
		Sections: []Section{{Title: "1. redis failed", Rows: []Row{RatioRow("throughput", 1e6, math.NaN(), itemsUnit, AtLeast(1), nil)}}},
		NoRatio:  "n/a",
	}
	want := `bench: test

1. redis failed
              weir           reference  weir/ref  target  result
  throughput  1.00M items/s  n/a        n/a       >= 1x   not measured
`
	if got := printed(rep); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		unit Unit
		v    float64
		want string
	}{
		{PerSecond("ops"), 1_234_567, "1.23M ops/s"},
		{PerSecond("ops"), 45_678, "45.7k ops/s"},
		{PerSecond("ops"), 789, "789 ops/s"},
		{Nanoseconds, 1_500_000_000, "1500.00ms"},
		{Nanoseconds, 1_234_567, "1.23ms"},
		{Nanoseconds, 45_678, "45.7µs"},
		{Nanoseconds, 789, "789ns"},
	} {
		if got := tc.unit(tc.v); got != tc.want {
			t.Errorf("unit(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
