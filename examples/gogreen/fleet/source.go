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
	for j := range p.vehicles {
		p.pending = c.appendStep(p.pending, &p.sims[j], k)
	}
}

// Positions saves each partition's next step and the readings of the step
// before it already read.
func (r *reader) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts))
	for _, p := range r.parts {
		out[strconv.Itoa(p.id)] = Offset{Step: p.step, Read: p.read}.Encode()
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
		pos, err := DecodeOffset(b)
		if err != nil {
			return fmt.Errorf("fleet source: partition %d: %w", p.id, err)
		}
		step := pos.Step
		p.step, p.pending, p.read = step, p.pending[:0], 0
		if pos.Read > 0 && step > 0 {
			p.generate(&r.c, step-1)
			p.read = min(pos.Read, len(p.pending))
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

// Offset is how far the source read one map partition's vehicles: every
// step before Step-1, and the first Read readings of step Step-1.
type Offset struct {
	Step int64
	Read int
}

// Encode is the position as the source saves it in a snapshot.
func (p Offset) Encode() []byte {
	b := binary.AppendVarint(nil, p.Step)
	return binary.AppendUvarint(b, uint64(p.Read))
}

// DecodeOffset reads a position saved by the source.
func DecodeOffset(b []byte) (Offset, error) {
	step, n := binary.Varint(b)
	read, m := binary.Uvarint(b[max(n, 0):])
	if n <= 0 || m <= 0 || step < 0 || read > 1<<31 {
		return Offset{}, fmt.Errorf("bad position %x", b)
	}
	return Offset{Step: step, Read: int(read)}, nil
}

// Cut is what the source had read when a snapshot was taken: the position
// of each map partition (by its number), as saved in the snapshot.
type Cut struct {
	Partitions int            // the cluster's partition count
	Positions  map[int]Offset // by partition
}

// ForEachIn calls fn with every reading the cut covers, each vehicle's in
// the order they reach the cluster. Vehicle i is read from partition i
// modulo the partition count; a partition missing from the cut was not
// read at all.
func (c Config) ForEachIn(cut Cut, fn func(Reading)) {
	var buf []Reading
	for i := range c.Vehicles {
		pos, ok := cut.Positions[i%cut.Partitions]
		if !ok || pos.Step == 0 {
			continue
		}
		v := c.vehicle(i)
		for k := int64(0); k < pos.Step-1; k++ {
			buf = c.appendStep(buf[:0], &v, k)
			for _, r := range buf {
				fn(r)
			}
		}
		// The partition's last step was read in part: its readings come
		// vehicle after vehicle, so this vehicle's are those of the first
		// Read of the step's that are its.
		skip := 0
		for j := i % cut.Partitions; j < i; j += cut.Partitions {
			w := c.vehicle(j)
			skip += len(c.appendStep(buf[:0], &w, pos.Step-1))
		}
		buf = c.appendStep(buf[:0], &v, pos.Step-1)
		for n, r := range buf {
			if skip+n < pos.Read {
				fn(r)
			}
		}
	}
}
