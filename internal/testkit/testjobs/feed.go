package testjobs

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// Vehicles is how many vehicles the feeder's readings cycle through.
const Vehicles = 13

// VehicleName names vehicle i.
func VehicleName(i int) string { return fmt.Sprintf("truck-%d", i) }

// Feeder puts readings into the input map of the counting job, one at a
// time, until stopped. A put that fails is retried with the same key and
// value until it is acknowledged: a retry of a put that had in fact been
// applied changes nothing the job counts (it yields an Updated event, and
// the job counts Added events).
type Feeder struct {
	mu      sync.Mutex
	want    Output
	retries atomic.Int64
	err     error
	stopped sync.Once
	stop    chan struct{}
	done    chan struct{}
}

// Output is what the counting job must produce: a count per vehicle and one
// line per reading.
type Output struct {
	Counts map[string]int64
	Lines  map[string]int
	// Files names, for each line read from committed files, the files it
	// was found in: where a line is doubled, they say which executions and
	// snapshots wrote it (file names carry both).
	Files map[string][]string
}

// JournalCapacity is the journal size per partition of the input map.
const JournalCapacity = 100_000

// Feed starts putting readings into map input through m.
func Feed(m *member.Member, input string) *Feeder {
	f := &Feeder{want: Output{Counts: map[string]int64{}, Lines: map[string]int{}}, stop: make(chan struct{}), done: make(chan struct{})}
	mp := grid.GetMap[string, Reading](m, input, grid.WithJournal(JournalCapacity))
	go func() {
		defer close(f.done)
		for n := int64(1); ; n++ {
			select {
			case <-f.stop:
				return
			default:
			}
			r := Reading{Vehicle: VehicleName(int(n % Vehicles)), Seq: n}
			if err := f.put(mp, fmt.Sprintf("r-%d", n), r); err != nil {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
				return
			}
			f.mu.Lock()
			f.want.Counts[r.Vehicle]++
			f.want.Lines[r.Line()]++
			f.mu.Unlock()
		}
	}()
	return f
}

// put retries for up to a minute: long enough for any failover.
func (f *Feeder) put(mp *grid.Map[string, Reading], key string, r Reading) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := mp.Put(ctx, key, r)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("put %s: still failing after a minute: %w", key, err)
		}
		f.retries.Add(1)
		select {
		case <-f.stop:
			return fmt.Errorf("put %s: stopped while retrying: %w", key, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Fed is how many readings were acknowledged so far.
func (f *Feeder) Fed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.want.Lines)
}

// Retries is how many puts were retried.
func (f *Feeder) Retries() int64 { return f.retries.Load() }

// Stop stops feeding and returns what was acknowledged. It may be called
// again.
func (f *Feeder) Stop() (Output, error) {
	f.stopped.Do(func() { close(f.stop) })
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.want, f.err
}

// Line is the reading's line in the file sink.
func (r Reading) Line() string { return fmt.Sprintf("%s %d", r.Vehicle, r.Seq) }

// ReadOutput reads what the counting job produced: the counts of the
// feeder's vehicles, and the lines of the committed files in dir.
func ReadOutput(ctx context.Context, m *member.Member, counts, dir string) (Output, error) {
	out := Output{Lines: map[string]int{}, Files: map[string][]string{}}
	names := make([]string, Vehicles)
	for i := range names {
		names[i] = VehicleName(i)
	}
	got, err := grid.GetMap[string, int64](m, counts).GetAll(ctx, names)
	if err != nil {
		return out, err
	}
	out.Counts = got
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // not committed
		}
		fh, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return out, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			out.Lines[sc.Text()]++
			out.Files[sc.Text()] = append(out.Files[sc.Text()], e.Name())
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Diff compares what a job produced with what it should have. Exactly
// once, got must equal want; at least once, got may repeat readings, and
// Diff returns how many repeats it saw. The error lists what is missing (or
// doubled, exactly once), a few at a time.
func Diff(want, got Output, exactlyOnce bool) (repeats int, err error) {
	var problems []string
	for _, v := range slices.Sorted(maps.Keys(want.Counts)) {
		w, g := want.Counts[v], got.Counts[v]
		switch {
		case g < w:
			problems = append(problems, fmt.Sprintf("%s counted %d, want %d", v, g, w))
		case g > w && exactlyOnce:
			problems = append(problems, fmt.Sprintf("%s counted %d, want %d", v, g, w))
		}
	}
	for line := range want.Lines {
		switch n := got.Lines[line]; {
		case n == 0:
			problems = append(problems, fmt.Sprintf("line %q missing", line))
		case n > 1 && exactlyOnce:
			problems = append(problems, fmt.Sprintf("line %q written %d times (in %s)", line, n, strings.Join(got.Files[line], ", ")))
		case n > 1:
			repeats += n - 1
		}
	}
	for line := range got.Lines {
		if want.Lines[line] == 0 {
			problems = append(problems, fmt.Sprintf("line %q was never fed", line))
		}
	}
	if len(problems) == 0 {
		return repeats, nil
	}
	slices.Sort(problems)
	shown := problems[:min(len(problems), 20)]
	return repeats, fmt.Errorf("%d differences: %s", len(problems), strings.Join(shown, "; "))
}
