package harness

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Section is one workload's part of the report: a title, a table of rows,
// and notes printed under it.
type Section struct {
	Title string
	Rows  []Row
	Notes []string
}

// Unit formats a measured number for the table, with its unit. It is not
// called with NaN: the report prints a number not measured as "n/a".
type Unit func(float64) string

// PerSecond is the unit of a rate of things (items, events, ops) per
// second: 1.23M items/s, 45.6k items/s, 789 items/s.
func PerSecond(what string) Unit {
	return func(v float64) string {
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2fM %s/s", v/1e6, what)
		case v >= 1e3:
			return fmt.Sprintf("%.1fk %s/s", v/1e3, what)
		}
		return fmt.Sprintf("%.0f %s/s", v, what)
	}
}

// Nanoseconds is the unit of a duration given in nanoseconds, in
// milliseconds or microseconds from there up: 1.23ms, 45.6µs, 789ns.
func Nanoseconds(v float64) string {
	d := time.Duration(v)
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", v/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1fµs", v/1e3)
	}
	return d.String()
}

// Row compares one weir number with its reference, or, made by CheckRow,
// says whether weir's output was right. Make it with RatioRow or CheckRow.
type Row struct {
	what      string
	weir, ref float64
	unit      Unit
	target    *Target
	err       error
	check     *check // set on a correctness check, which uses no number
}

type check struct {
	ok     bool
	detail string
}

// RatioRow is a row of weir's number against the reference's, in unit. ref
// is NaN when there is no reference in the same run, or it could not be
// measured; weir is NaN when weir could not be measured. err, when not nil,
// is the row's result.
func RatioRow(what string, weir, ref float64, unit Unit, t *Target, err error) Row {
	return Row{what: what, weir: weir, ref: ref, unit: unit, target: t, err: err}
}

// CheckRow is a correctness check: ok says whether weir's output equals
// the reference's, detail what was compared. err, when not nil, is the
// row's result.
func CheckRow(what string, ok bool, detail string, err error) Row {
	return Row{what: what, check: &check{ok: ok, detail: detail}, err: err}
}

// Target is the bar a row must clear, on the ratio weir/reference or on
// weir's own number.
type Target struct {
	text    string
	onRatio bool // met needs the reference
	met     func(weir, ratio float64) bool
}

// NoTarget is the target of a row that only reports.
var NoTarget *Target

// Reported is the target of a row whose only goal is that weir's number
// exists.
var Reported = &Target{text: "reported", met: func(weir, _ float64) bool { return !math.IsNaN(weir) }}

// AtLeast is met when weir/reference >= r.
func AtLeast(r float64) *Target {
	return &Target{fmt.Sprintf(">= %gx", r), true, func(_, ratio float64) bool { return ratio >= r }}
}

// AtMost is met when weir/reference <= r.
func AtMost(r float64) *Target {
	return &Target{fmt.Sprintf("<= %gx", r), true, func(_, ratio float64) bool { return ratio <= r }}
}

// AbsAtLeast is met when weir's number is at least v.
func AbsAtLeast(v float64, unit Unit) *Target {
	return &Target{">= " + unit(v), false, func(weir, _ float64) bool { return weir >= v }}
}

// AbsAtMost is met when weir's number is at most v.
func AbsAtMost(v float64, unit Unit) *Target {
	return &Target{"<= " + unit(v), false, func(weir, _ float64) bool { return weir <= v }}
}

// AbsBelow is met when weir's number is below v.
func AbsBelow(v float64, unit Unit) *Target {
	return &Target{"< " + unit(v), false, func(weir, _ float64) bool { return weir < v }}
}

func (r Row) ratio() float64 { return r.weir / r.ref }

// cells returns the row's columns: what, weir, reference, weir/ref, target
// and result. noRatio fills weir/ref when the reference is NaN.
func (r Row) cells(noRatio string) []string {
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
	weir, ref, ratio, result := r.format(r.weir), r.format(r.ref), fmt.Sprintf("%.3fx", r.ratio()), ""
	if math.IsNaN(r.ref) {
		ratio = noRatio
	}
	target := ""
	if t := r.target; t != nil {
		target = t.text
		switch {
		case r.err != nil:
		case math.IsNaN(r.weir), math.IsNaN(r.ref) && t.onRatio:
			result = "not measured"
		case t.met(r.weir, r.ratio()):
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

func (r Row) format(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return r.unit(v)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// Report is what a program prints on stdout: a header line, then every
// section, its table and its notes.
type Report struct {
	Header   string
	Sections []Section
	// NoRatio is what the weir/ref column shows for a row whose reference
	// is NaN. gridbench says "n/a": a missing reference there is one that
	// failed. dagbench leaves it empty: most of its rows without a
	// reference have none to have.
	NoRatio string
}

// Print writes the report to w, each section's rows aligned in columns.
func (rep Report) Print(w io.Writer) {
	fmt.Fprintln(w, rep.Header)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range rep.Sections {
		fmt.Fprintf(tw, "\n%s\n", s.Title)
		fmt.Fprintln(tw, "  \tweir\treference\tweir/ref\ttarget\tresult")
		for _, r := range s.Rows {
			fmt.Fprintf(tw, "  %s\n", strings.Join(r.cells(rep.NoRatio), "\t"))
		}
		tw.Flush()
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	tw.Flush()
}
