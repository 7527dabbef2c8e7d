package dag

import (
	"fmt"
	"sync"

	"github.com/weir-dev/weir/internal/wire"
)

// Builder turns a job's parameters into its DAG.
type Builder[P any] func(params P) (*DAG, error)

type jobDef struct {
	build func(params []byte) (*DAG, error)
}

var registry sync.Map // name -> jobDef

// Register makes a job available under name in this binary. Go cannot ship
// closures between processes, so a job is code registered by name in every
// binary that runs members; submitting sends the name and the msgpack-encoded
// parameters, and every member builds the DAG itself (and checks that it
// built the same one). Register from an init function. Registering a name
// twice panics.
func Register[P any](name string, build Builder[P]) {
	def := jobDef{build: func(b []byte) (*DAG, error) {
		var p P
		if len(b) > 0 {
			if err := wire.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("decode parameters of job %q: %w", name, err)
			}
		}
		return build(p)
	}}
	if _, dup := registry.LoadOrStore(name, def); dup {
		panic("dag: job " + name + " registered twice")
	}
}

func lookupJob(name string) (jobDef, bool) {
	d, ok := registry.Load(name)
	if !ok {
		return jobDef{}, false
	}
	return d.(jobDef), true
}

// buildJob builds and validates the DAG of a registered job.
func buildJob(name string, params []byte) (*DAG, error) {
	def, ok := lookupJob(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownJob, name)
	}
	d, err := buildSafely(def, params)
	if err != nil {
		return nil, fmt.Errorf("build job %q: %w", name, err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("job %q: invalid DAG: %w", name, err)
	}
	return d, nil
}

func buildSafely(def jobDef, params []byte) (d *DAG, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("builder panicked: %v", r)
		}
	}()
	d, err = def.build(params)
	if err == nil && d == nil {
		err = fmt.Errorf("builder returned no DAG")
	}
	return d, err
}
