package fleet

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// Source streams the fleet's readings into a job. Vehicle i belongs to map
// partition i modulo the partition count, and each source instance
// simulates the vehicles of the partitions the job gives it, one step at a
// time, paced by StepsPerSecond. The source is replayable: it saves each
// partition's next step (and how much of it was read), and the simulation
// being deterministic, a job restored from a snapshot reads exactly the
// readings it had not.
func Source(c Config) pipeline.Source[Reading] {
	return pipeline.NewSource("fleet", func(ctx *dag.Context) (pipeline.Reader[Reading], error) {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		n := ctx.PartitionCount()
		r := &reader{c: c, now: time.Now}
		for _, p := range ctx.Partitions() {
			part := &partition{id: p}
			for i := p; i < c.Vehicles; i += n {
				part.vehicles = append(part.vehicles, i)
				part.sims = append(part.sims, c.vehicle(i))
			}
			if len(part.vehicles) > 0 {
				r.parts = append(r.parts, part)
			}
		}
		r.origin = r.now()
		return r, nil
	}, pipeline.Replayable())
}

type reader struct {
	c      Config
	parts  []*partition
	origin time.Time // wall-clock time of step 0
	now    func() time.Time
}

// partition is one map partition's vehicles and how far they got.
type partition struct {
	id       int
	vehicles []int
	sims     []vehicle
	step     int64     // the next step to simulate
	pending  []Reading // the readings of step-1 not yet read
	read     int       // of pending
}

func (r *reader) Partitions() int { return len(r.parts) }
func (r *reader) Close() error    { return nil }

// due is the last step the pace allows now.
func (r *reader) due() int64 {
	if r.c.StepsPerSecond == 0 {
		return 1<<62 - 1
	}
	return int64(r.now().Sub(r.origin).Seconds() * r.c.StepsPerSecond)
}

// Read simulates the partitions in step: a partition moves on to the next
// step once every partition of the reader has finished the current one.
func (r *reader) Read(buf []pipeline.SourceItem[Reading], max int) ([]pipeline.SourceItem[Reading], bool, error) {
	last, due := r.c.lastStep(), r.due()
	low := int64(1<<62 - 1)
	for _, p := range r.parts {
		if p.read < len(p.pending) {
			low = min(low, p.step-1)
		} else {
			low = min(low, p.step)
		}
	}
	done := true
	for li, p := range r.parts {
		for len(buf) < max {
			if p.read == len(p.pending) {
				if p.step > low || p.step > due || (last >= 0 && p.step > last) {
					break
				}
				p.generate(&r.c, p.step)
				p.step++
				continue
			}
			n := min(len(p.pending)-p.read, max-len(buf))
			for _, rd := range p.pending[p.read : p.read+n] {
				buf = append(buf, pipeline.SourceItem[Reading]{V: rd, Partition: li, TS: rd.TS})
			}
			p.read += n
		}
		if p.read < len(p.pending) || last < 0 || p.step <= last {
			done = false
		}
	}
	return buf, done, nil
}

func (p *partition) generate(c *Config, k int64) {
	p.pending, p.read = p.pending[:0], 0
	for j, i := range p.vehicles {
		p.pending = c.appendStep(p.pending, &p.sims[j], i, k)
	}
}

// Positions saves each partition's next step and the readings of the step
// before it already read.
func (r *reader) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts))
	for _, p := range r.parts {
		b := binary.AppendVarint(nil, p.step)
		b = binary.AppendUvarint(b, uint64(p.read))
		out[strconv.Itoa(p.id)] = b
	}
	return out, nil
}

// Seek resumes every partition it reads from its saved position, and keeps
// the pace from there.
func (r *reader) Seek(positions map[string][]byte) error {
	low := int64(-1)
	for _, p := range r.parts {
		b, ok := positions[strconv.Itoa(p.id)]
		if !ok {
			continue
		}
		step, n := binary.Varint(b)
		read, m := binary.Uvarint(b[max(n, 0):])
		if n <= 0 || m <= 0 || step < 0 {
			return fmt.Errorf("fleet source: bad position %x for partition %d", b, p.id)
		}
		p.step, p.pending, p.read = step, p.pending[:0], 0
		if read > 0 && step > 0 {
			p.generate(&r.c, step-1)
			p.read = min(int(read), len(p.pending))
		}
		if low < 0 || step < low {
			low = step
		}
	}
	if low > 0 && r.c.StepsPerSecond > 0 {
		r.origin = r.now().Add(-time.Duration(float64(low) / r.c.StepsPerSecond * float64(time.Second)))
	}
	return nil
}
