package harness

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiler writes a CPU profile of each measured workload, and a heap
// profile when a workload asks for one. A zero Profiler writes nothing.
// Errors do not stop the benchmark: they are kept for Err, and the
// workload runs unprofiled.
//
// Which goroutines carry which pprof labels is each program's business,
// and so is telling its users how to cut a profile down to weir's work.
type Profiler struct {
	// CPUPrefix, when set, makes During write <CPUPrefix>-<name>.pprof.
	CPUPrefix string
	// HeapFile, when set, is where Heap writes the heap profile.
	HeapFile string
	errs     []error
}

// During runs f, under a CPU profile written to <CPUPrefix>-<name>.pprof.
func (p *Profiler) During(name string, f func()) {
	if p.CPUPrefix == "" {
		f()
		return
	}
	path := fmt.Sprintf("%s-%s.pprof", p.CPUPrefix, name)
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

// Heap writes the heap profile to HeapFile, as of a collection made now.
func (p *Profiler) Heap() {
	if p.HeapFile == "" {
		return
	}
	file, err := os.Create(p.HeapFile)
	if err != nil {
		p.errs = append(p.errs, err)
		return
	}
	defer p.close(file)
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(file, 0); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", p.HeapFile, err))
	}
}

func (p *Profiler) close(f *os.File) {
	if err := f.Close(); err != nil {
		p.errs = append(p.errs, err)
	}
}

// Err returns every error met so far, joined, or nil.
func (p *Profiler) Err() error { return errors.Join(p.errs...) }
