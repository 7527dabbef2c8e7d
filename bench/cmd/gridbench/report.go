package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// section is one workload's part of the table.
type section struct {
	title string
	rows  []row
	notes []string
}

// row compares one weir number with its reference. ref is NaN when the
// reference could not be measured.
type row struct {
	what      string
	weir, ref float64
	unit      func(float64) string
	target    *target
	err       error
}

// target is the bar a row must clear, on the ratio weir/reference or on
// weir's own number.
type target struct {
	text string
	met  func(weir, ratio float64) bool
}

var noTarget *target

// nan marks a reference that was not measured.
var nan = math.NaN()

func atLeast(r float64) *target {
	return &target{fmt.Sprintf(">= %gx", r), func(_, ratio float64) bool { return ratio >= r }}
}

func atMost(r float64) *target {
	return &target{fmt.Sprintf("<= %gx", r), func(_, ratio float64) bool { return ratio <= r }}
}

func absAtMost(v float64, unit func(float64) string) *target {
	return &target{"<= " + unit(v), func(weir, _ float64) bool { return weir <= v }}
}

func ratioRow(what string, weir, ref float64, unit func(float64) string, t *target, err error) row {
	return row{what: what, weir: weir, ref: ref, unit: unit, target: t, err: err}
}

func (r row) ratio() float64 { return r.weir / r.ref }

func (r row) cells() []string {
	weir, ref, ratio, result := r.unit(r.weir), r.unit(r.ref), fmt.Sprintf("%.3fx", r.ratio()), ""
	if math.IsNaN(r.ref) {
		ref, ratio = "n/a", "n/a"
	}
	target := ""
	if r.target != nil {
		target = r.target.text
		switch {
		case r.err != nil:
		case math.IsNaN(r.ref) && strings.HasSuffix(target, "x"):
			result = "not measured"
		case r.target.met(r.weir, r.ratio()):
			result = "ok"
		default:
			result = "MISSED"
		}
	}
	if r.err != nil {
		result = "error: " + firstLine(r.err.Error())
	}
	return []string{r.what, weir, ref, ratio, target, result}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// printReport writes the sections as one table.
func printReport(w io.Writer, header string, sections []section) {
	fmt.Fprintln(w, header)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range sections {
		fmt.Fprintf(tw, "\n%s\n", s.title)
		fmt.Fprintln(tw, "  \tweir\treference\tweir/ref\ttarget\tresult")
		for _, r := range s.rows {
			fmt.Fprintf(tw, "  %s\n", strings.Join(r.cells(), "\t"))
		}
		tw.Flush()
		for _, n := range s.notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	tw.Flush()
}

func opsUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM ops/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk ops/s", v/1e3)
	}
	return fmt.Sprintf("%.0f ops/s", v)
}

func latencyUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	d := time.Duration(v)
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", v/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1fµs", v/1e3)
	}
	return d.String()
}

func bytesUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f B", v)
}
