package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
)

// Program runs a benchmark program's workloads one after the other and
// reports them. Progress and failures go to Stderr, the report to the
// writer given to Finish.
type Program struct {
	// Name begins the report's header and every line on Stderr.
	Name string
	// Workloads are the workloads chosen: Run skips any other.
	Workloads []string
	// Profiler, if set, is the workloads' profiler: Finish reports its
	// errors as a failure.
	Profiler *Profiler
	// NoRatio: see Report.NoRatio.
	NoRatio string
	// Stderr receives progress and failures. Default: os.Stderr.
	Stderr io.Writer

	sections []Section
	failures []string
}

func (p *Program) stderr() io.Writer {
	if p.Stderr == nil {
		return os.Stderr
	}
	return p.Stderr
}

// Run runs the workload name, if it was chosen and ctx is not done, and
// keeps the sections it returns. A workload that fails still has its
// sections printed, with what it measured; if the last one has no rows,
// it gets the error as a note, so that the report shows why it is empty.
func (p *Program) Run(ctx context.Context, name string, workload func() ([]Section, error)) {
	if !slices.Contains(p.Workloads, name) || ctx.Err() != nil {
		return
	}
	fmt.Fprintf(p.stderr(), "%s: running %s...\n", p.Name, name)
	ss, err := workload()
	if err != nil {
		p.failures = append(p.failures, fmt.Sprintf("%s: %s: %v", p.Name, name, err))
		if len(ss) == 0 {
			ss = []Section{{Title: name}}
		}
		if last := &ss[len(ss)-1]; len(last.Rows) == 0 {
			last.Notes = append(last.Notes, "FAILED: "+err.Error())
		}
	}
	p.sections = append(p.sections, ss...)
}

// Finish prints the report to w, under a header that says what machine
// and Go ran it, then the failures to Stderr. It returns false if anything
// failed or ctx was cancelled: the program should then exit with status 1.
func (p *Program) Finish(ctx context.Context, w io.Writer) bool {
	Report{
		Header: fmt.Sprintf("%s: %s/%s, %d CPUs, GOMAXPROCS %d, %s",
			p.Name, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version()),
		Sections: p.sections,
		NoRatio:  p.NoRatio,
	}.Print(w)
	if p.Profiler != nil {
		if err := p.Profiler.Err(); err != nil {
			p.failures = append(p.failures, fmt.Sprintf("%s: profile: %v", p.Name, err))
		}
	}
	for _, f := range p.failures {
		fmt.Fprintln(p.stderr(), f)
	}
	return len(p.failures) == 0 && ctx.Err() == nil
}
