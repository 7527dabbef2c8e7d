package nemesis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/jobtest"
	"github.com/weir-dev/weir/internal/testkit/testjobs"
)

// Fault is one kind of fault the nemesis injects. Inject starts it and
// returns a description (which hosts) and what undoes it; the nemesis
// holds the fault for Hold, undoes it, and waits for the cluster to settle.
type Fault struct {
	Kind   string
	Hold   time.Duration
	Inject func(r *Run) (desc string, heal func() error, err error)
}

// Run is a nemesis run: the cluster, the clients and their history, the
// exactly-once job, and the anomalies found so far.
type Run struct {
	T         testing.TB
	C         *Cluster
	H         *History
	W         *Workload
	Job       *jobtest.Count
	Rand      *rand.Rand
	helper    *Helper
	helperH   int // the helper's host: partitions put it on the minority side
	helperLog string

	anomalies []Anomaly
	// Known are the anomalies of the documented limit (see Backups),
	// reported but not failed; allCut are the partitions that had every
	// copy in a partition fault's minority, and from which fault on.
	Known    []Anomaly
	allCut   []cutOff
	faults   int
	jobEnded bool // failed: the output is checked no more
}

// Hosts and quorum of a run: a side of two members is a minority.
//
// Backups is what Start runs with. BackupCount must be at least the
// number of members a fault can take away at once (the minority of a
// partition: Hosts - Quorum = 2): with fewer, some partitions have every
// copy in the minority, the majority serves them from empty meanwhile, and
// what entry processors (the counters) do there cannot be both available
// and exact (see grid's package manual). StartWith runs with fewer, and
// reports what a partition then costs the counters as that known limit
// (Run.Known), not as a failure; everything else is checked as ever.
const (
	Hosts   = 5
	Quorum  = 3
	Backups = Hosts - Quorum
)

// Start starts a run with Backups backups: hosts, members, the client
// workload, the minority helper (in the last host), and the counting job,
// exactly-once.
func Start(t testing.TB, seed uint64) *Run {
	t.Helper()
	return StartWith(t, seed, Backups)
}

// StartWith is Start with the given number of backups.
func StartWith(t testing.TB, seed uint64, backups int) *Run {
	t.Helper()
	if testing.Short() {
		t.Skip("nemesis: starts member processes in network namespaces")
	}
	if os.Getenv("WEIR_NEMESIS") != "1" {
		t.Skip("nemesis: still finds open defects of issue 15 (a pause can undo an acknowledged delete; see KnownDefects); WEIR_NEMESIS=1 runs it")
	}
	began := time.Now()
	c := StartCluster(t, Hosts, Quorum, backups)
	r := &Run{T: t, C: c, H: NewHistory(), Rand: rand.New(rand.NewPCG(seed, 15)), helperH: Hosts - 1}
	r.W = NewWorkload(c.Client, r.H)
	r.W.Start()
	t.Cleanup(r.W.Stop) // a test that fails before Finish
	logs := t.TempDir()
	r.helperLog = filepath.Join(logs, "helper.log")
	hp, err := StartHelper(c, r.helperH, r.H, r.helperLog)
	if err != nil {
		t.Fatalf("nemesis: start the helper client: %v", err)
	}
	r.helper = hp
	t.Cleanup(func() { _ = hp.Stop() })
	// The first fault must meet deletes of keys written before it.
	if !clustertest.PollUntil(time.Minute, func() bool { return r.W.Deleted() >= int64(r.W.Writers) }) {
		t.Fatalf("nemesis: the writers acknowledged %d deletes in a minute, want %d", r.W.Deleted(), r.W.Writers)
	}
	r.Job = jobtest.StartCount(t, c.Client, dag.WithGuarantee(dag.ExactlyOnce), dag.WithSnapshotInterval(testjobs.Interval))
	t.Logf("nemesis: %d hosts in namespaces on %s/24 (netem: %v), quorum %d, backups %d, seed %d; started in %v", Hosts, c.Net.ClientIP, c.Net.Netem, Quorum, backups, seed, time.Since(began).Round(time.Millisecond))
	return r
}

// Apply injects f, holds it, heals it, waits for the cluster to settle,
// and checks the job's output so far.
func (r *Run) Apply(f Fault) {
	r.faults++
	desc, heal, err := f.Inject(r)
	name := fmt.Sprintf("%d %s %s", r.faults, f.Kind, desc)
	if err != nil {
		r.note(Anomaly{Check: "nemesis", Detail: fmt.Sprintf("%s: %v", name, err)})
		return
	}
	i := r.H.FaultStart(name)
	r.hold(f.Hold)
	if err := heal(); err != nil {
		r.note(Anomaly{Check: "nemesis", At: r.H.Now(), Detail: fmt.Sprintf("heal %s: %v", name, err)})
	}
	r.H.FaultHealed(i)
	err = r.C.Settle(45 * time.Second)
	r.H.FaultCalm(i, err == nil)
	if err != nil {
		r.note(Anomaly{Check: "settle", At: r.H.Now(), Detail: fmt.Sprintf("after %s: %v", name, err)})
	}
	r.checkJob(name)
	r.W.ReadAll(CheckClient, 20*time.Second)
	r.T.Logf("nemesis: %s", r.H.Faults()[i])
}

// hold lets a fault last d: the clients run meanwhile.
func (r *Run) hold(d time.Duration) {
	<-time.After(d)
}

func (r *Run) note(a Anomaly) { r.anomalies = append(r.anomalies, a) }

// checkJob reads the job's committed output: with exactly-once, no line is
// ever written twice, and the job keeps running.
func (r *Run) checkJob(after string) {
	if r.jobEnded {
		return
	}
	// After a restart the job may still be starting: give it 30s.
	var info dag.JobInfo
	var err error
	clustertest.PollUntil(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		info, err = r.Job.Job.Info(ctx)
		return err == nil && (info.Status == dag.Running || info.Status.Terminal())
	})
	switch {
	case err != nil:
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: fmt.Sprintf("after %s: job info: %v", after, err)})
		return
	case info.Status == dag.Failed && !KnownDefects():
		r.T.Logf("nemesis: KNOWN DEFECT (issue 15; WEIR_NEMESIS_KNOWN=1 fails on it): after %s the job failed after %d restarts (restored from snapshot %d): %s",
			after, info.Restarts, info.RestoredFrom, clip(info.Error, 400))
		r.jobEnded = true
		return
	case info.Status != dag.Running:
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: fmt.Sprintf("after %s: the job is %v after %d restarts (restored from snapshot %d): %s",
			after, info.Status, info.Restarts, info.RestoredFrom, clip(info.Error, 400))})
		if info.Status.Terminal() {
			r.jobEnded = true
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := testjobs.ReadOutput(ctx, r.C.Client, r.Job.Params.Counts, r.Job.Params.Dir)
	if err != nil {
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: fmt.Sprintf("after %s: read the output: %v", after, err)})
		return
	}
	var doubled []string
	for line, n := range got.Lines {
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%q ×%d in %s", line, n, strings.Join(got.Files[line], ", ")))
		}
	}
	if len(doubled) > 0 {
		slices.Sort(doubled)
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: fmt.Sprintf("after %s: %d lines committed more than once: %s",
			after, len(doubled), strings.Join(doubled[:min(len(doubled), 10)], "; "))})
	}
}

// Finish stops the clients, heals everything, waits for the cluster to
// settle, reads every key, checks the history and the job's output, logs
// the summary per fault, and fails the test for each anomaly found.
func (r *Run) Finish() {
	t := r.T
	r.W.Stop()
	if err := r.helper.Stop(); err != nil {
		r.note(Anomaly{Check: "nemesis", At: r.H.Now(), Detail: err.Error()})
	}
	if err := r.C.Net.Heal(); err != nil {
		r.note(Anomaly{Check: "nemesis", At: r.H.Now(), Detail: err.Error()})
	}
	if err := r.C.Settle(time.Minute); err != nil {
		r.note(Anomaly{Check: "settle", At: r.H.Now(), Detail: "at the end: " + err.Error()})
	}
	// Two rounds of final reads, a moment apart: a merge that brings an
	// old copy back may land just after the cluster looks settled.
	r.W.ReadAll(FinalClient, 30*time.Second)
	r.W.ReadAll(FinalClient, 30*time.Second)
	r.finishJob()

	ops, faults := r.H.Ops(), r.H.Faults()
	dir, err := os.MkdirTemp("", "weir-nemesis-history-")
	if err != nil {
		dir = ""
	}
	r.anomalies = append(r.anomalies, CheckRegisters(ops, faults)...)
	for _, a := range CheckCounters(ops, faults) {
		if r.knownLimit(a, faults) {
			r.Known = append(r.Known, a)
			continue
		}
		r.anomalies = append(r.anomalies, a)
	}
	for _, a := range r.Known {
		t.Logf("nemesis: known limit, not a failure (BackupCount %d is less than the %d members a partition cut off, so every copy of the counter's partition was in the minority; see grid's package manual): %s",
			r.C.Backups, Hosts-Quorum, a)
	}
	r.anomalies = append(r.anomalies, CheckMinority(ops, faults)...)
	lin := CheckLinearizable(ops, faults, dir)
	if len(lin.IllegalCalm) > 0 {
		r.note(Anomaly{Check: "linearizability", Detail: fmt.Sprintf("%d keys not linearizable outside any fault: %s (visualization: %s)",
			len(lin.IllegalCalm), firstFew(lin.IllegalCalm), lin.Visualization)})
	}
	t.Logf("nemesis: %d operations, %d faults; porcupine checked %d register keys: %d not linearizable outside faults, %d with operations during faults (informational: %s), %d timed out",
		len(ops), len(faults), lin.Keys, len(lin.IllegalCalm), len(lin.IllegalFaulted), firstFew(lin.IllegalFaulted), len(lin.TimedOut))
	t.Logf("nemesis: per fault window (operations invoked in it by kind and outcome; anomalies by when the acknowledged operation completed, or for counters when a check first found it wrong):\n%s",
		Summary(ops, faults, r.anomalies))
	if len(r.anomalies) == 0 {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
		return
	}
	if dir != "" {
		if b, err := os.ReadFile(r.helperLog); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "helper.log"), b, 0o644)
		}
		path := filepath.Join(dir, "history.jsonl")
		if writeHistory(path, ops, faults) == nil {
			t.Logf("nemesis: history kept in %s", path)
		}
	}
	byCheck := map[string][]Anomaly{}
	var checks []string
	for _, a := range r.anomalies {
		if byCheck[a.Check] == nil {
			checks = append(checks, a.Check)
		}
		byCheck[a.Check] = append(byCheck[a.Check], a)
	}
	for _, c := range checks {
		as := byCheck[c]
		// In time order, and counted by key group (the client the key
		// belongs to: w0-17 is writer w0's, m-5 the minority helper's).
		slices.SortStableFunc(as, func(a, b Anomaly) int { return cmp.Compare(a.At, b.At) })
		groups := map[string]int{}
		for _, a := range as {
			if g, _, _ := strings.Cut(a.Key, "-"); g != "" {
				groups[g]++
			}
		}
		gs := []string{"none"}
		if len(groups) > 0 {
			gs = nil
		}
		for _, g := range slices.Sorted(maps.Keys(groups)) {
			gs = append(gs, fmt.Sprintf("%s %d", g, groups[g]))
		}
		lines := make([]string, 0, 20)
		for _, a := range as[:min(len(as), 20)] {
			lines = append(lines, "  "+a.String())
		}
		t.Errorf("nemesis: %d %s anomalies (by key group: %s); the first %d in time:\n%s", len(as), c, strings.Join(gs, ", "), len(lines), strings.Join(lines, "\n"))
	}
}

// finishJob stops the job's input and waits until its output equals the
// input exactly.
func (r *Run) finishJob() {
	want, err := r.Job.Feeder.Stop()
	if r.jobEnded {
		return
	}
	if err != nil {
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: "feeding the job: " + err.Error()})
		return
	}
	var diff error
	ok := clustertest.PollUntil(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := testjobs.ReadOutput(ctx, r.C.Client, r.Job.Params.Counts, r.Job.Params.Dir)
		if err != nil {
			diff = err
			return false
		}
		_, diff = testjobs.Diff(want, got, true)
		return diff == nil
	})
	if !ok {
		r.note(Anomaly{Check: "job", At: r.H.Now(), Detail: fmt.Sprintf("the output never matched the %d readings fed exactly once: %v", len(want.Lines), diff)})
		return
	}
	r.T.Logf("nemesis: the job's output matched its %d readings exactly once (%d puts retried)", len(want.Lines), r.Job.Feeder.Retries())
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func firstFew(keys []string) string {
	if len(keys) > 10 {
		return strings.Join(keys[:10], ", ") + ", ..."
	}
	return strings.Join(keys, ", ")
}

func writeHistory(path string, ops []Op, faults []Window) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, w := range faults {
		_ = enc.Encode(map[string]any{"fault": w.Name, "start": w.Start, "healed": w.Healed, "calm": w.Calm})
	}
	for _, op := range ops {
		_ = enc.Encode(op)
	}
	return f.Close()
}
