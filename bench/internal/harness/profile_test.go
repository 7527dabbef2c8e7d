package harness

import (
	"os"
	"path/filepath"
	"testing"
)

// profile runs an empty workload under p, then writes the heap profile,
// and says whether the workload ran.
func profile(p *Profiler) (ran bool) {
	p.During("work", func() { ran = true })
	p.Heap()
	return ran
}

func TestProfiler(t *testing.T) {
	dir := t.TempDir()
	p := &Profiler{CPUPrefix: filepath.Join(dir, "p"), HeapFile: filepath.Join(dir, "heap.pprof")}
	if !profile(p) {
		t.Error("During did not run f")
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"p-work.pprof", "heap.pprof"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, %v", name, fi, err)
		}
	}
}

// A profile that cannot be written does not stop the workload; Err reports it.
func TestProfilerError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	p := &Profiler{CPUPrefix: filepath.Join(missing, "p"), HeapFile: filepath.Join(missing, "heap.pprof")}
	if !profile(p) {
		t.Error("During did not run f")
	}
	if p.Err() == nil {
		t.Error("Err() = nil after failed writes")
	}
}

func TestZeroProfiler(t *testing.T) {
	var p Profiler
	if !profile(&p) || p.Err() != nil {
		t.Errorf("During did not run f, or Err() = %v", p.Err())
	}
}
