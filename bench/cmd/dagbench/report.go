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

// row compares one weir number with its reference. ref is NaN when there is
// no reference in the same run (the target is then on weir's own number).
type row struct {
	what      string
	weir, ref float64
	unit      func(float64) string
	target    *target
	err       error
	// check, when set, makes the row a correctness check: weir and ref are
	// unused, and check says what was compared.
	check *check
}

type check struct {
	ok     bool
	detail string
}

// target is the bar a row must clear, on the ratio weir/reference or on
// weir's own number.
type target struct {
	text string
	met  func(weir, ratio float64) bool
}

var noTarget *target

// nan marks a reference that was not measured, or does not exist.
var nan = math.NaN()

func atLeast(r float64) *target {
	return &target{fmt.Sprintf(">= %gx", r), func(_, ratio float64) bool { return ratio >= r }}
}

func absAtLeast(v float64, unit func(float64) string) *target {
	return &target{">= " + unit(v), func(weir, _ float64) bool { return weir >= v }}
}

func absBelow(v float64, unit func(float64) string) *target {
	return &target{"< " + unit(v), func(weir, _ float64) bool { return weir < v }}
}

// reported is the target of rows whose only goal is a number.
var reported = &target{"reported", func(weir, _ float64) bool { return !math.IsNaN(weir) }}

func ratioRow(what string, weir, ref float64, unit func(float64) string, t *target, err error) row {
	return row{what: what, weir: weir, ref: ref, unit: unit, target: t, err: err}
}

func checkRow(what string, ok bool, detail string) row {
	return row{what: what, check: &check{ok: ok, detail: detail}}
}

func (r row) ratio() float64 { return r.weir / r.ref }

func (r row) cells() []string {
	if c := r.check; c != nil {
		result := "ok"
		if !c.ok {
			result = "MISMATCH"
		}
		if r.err != nil {
			result = "error: " + firstLine(r.err.Error())
		}
		return []string{r.what, c.detail, "", "", "equal", result}
	}
	weir, ref, ratio, result := r.unit(r.weir), r.unit(r.ref), fmt.Sprintf("%.3fx", r.ratio()), ""
	if math.IsNaN(r.ref) {
		ref, ratio = "n/a", ""
	}
	target := ""
	if r.target != nil {
		target = r.target.text
		switch {
		case r.err != nil:
		case math.IsNaN(r.weir), math.IsNaN(r.ref) && strings.HasSuffix(target, "x"):
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

// perSecUnit formats a rate of things (items, events) per second.
func perSecUnit(what string) func(float64) string {
	return func(v float64) string {
		if math.IsNaN(v) {
			return "n/a"
		}
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2fM %s/s", v/1e6, what)
		case v >= 1e3:
			return fmt.Sprintf("%.1fk %s/s", v/1e3, what)
		}
		return fmt.Sprintf("%.0f %s/s", v, what)
	}
}

var (
	itemsUnit  = perSecUnit("items")
	eventsUnit = perSecUnit("events")
)

func mbUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB/s", v/1e6)
}

func latencyUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	d := time.Duration(v)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", v/1e9)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", v/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1fµs", v/1e3)
	}
	return d.String()
}

func countUnit(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

func bytesUnit(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 1e6:
		return fmt.Sprintf("%.2f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.1f B", v)
}
