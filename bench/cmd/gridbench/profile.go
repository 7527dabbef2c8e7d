package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiler writes a CPU profile of each measured workload, and a heap
// profile of the loaded memory workload. The benchmark's goroutines carry
// the labels side (weir, reference, redis) and op, so a profile can be cut
// to weir's work: go tool pprof -tagfocus side=weir. A zero profiler does
// nothing.
type profiler struct {
	cpuPrefix string
	heapFile  string
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

// heap writes the heap profile, as of a collection made now.
func (p *profiler) heap() {
	if p.heapFile == "" {
		return
	}
	file, err := os.Create(p.heapFile)
	if err != nil {
		p.errs = append(p.errs, err)
		return
	}
	defer p.close(file)
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(file, 0); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", p.heapFile, err))
	}
}

func (p *profiler) close(f *os.File) {
	if err := f.Close(); err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *profiler) err() error { return errors.Join(p.errs...) }
