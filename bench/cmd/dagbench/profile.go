package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
)

// profiler writes a CPU profile of each measured workload. The references
// run under the label side=reference; weir's processors run on goroutines
// the members start, which carry no label, so cut a profile to weir's work
// with go tool pprof -tagignore side=reference. A zero profiler does
// nothing.
type profiler struct {
	cpuPrefix string
	errs      []error
}

// during runs f, under a CPU profile written to <prefix>-<name>.pprof.
func (p *profiler) during(name string, f func()) {
	if p.cpuPrefix == "" {
		f()
		return
	}
	path := fmt.Sprintf("%s-%s.pprof", p.cpuPrefix, name)
	file, err := os.Create(path)
	if err != nil {
		p.errs = append(p.errs, err)
		f()
		return
	}
	defer p.close(file)
	if err := pprof.StartCPUProfile(file); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", path, err))
		f()
		return
	}
	defer pprof.StopCPUProfile()
	f()
}

func (p *profiler) close(f *os.File) {
	if err := f.Close(); err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *profiler) err() error { return errors.Join(p.errs...) }
