package grid_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/clustertest"
	"github.com/weir-dev/weir/internal/testkit/proctest"
	"github.com/weir-dev/weir/member"
)

// A member paused with SIGSTOP for longer than failure detection is
// dropped; its backups are promoted, and the cluster goes on writing and
// deleting. When it resumes it still holds its old copies. They must not
// bring back what the cluster deleted meanwhile, with or without a quorum
// configured, and what the cluster wrote meanwhile must stay.
func TestPausedMemberBringsNothingBack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	quorum := []string{"--min-cluster-size", "2"}
	for _, tc := range []struct {
		name   string
		args   []string
		victim int // p1 is the coordinator
	}{
		{"no quorum", nil, 2},
		{"min cluster size 2", quorum, 2},
		// Back from its pause, the coordinator must learn the table the
		// others published without it, or the cluster stays unbalanced.
		{"coordinator, min cluster size 2", quorum, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps, lite := proctest.StartThree(t, tc.args...)
			proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID, ps[2].ID)
			pauseRound(t, ps, lite, tc.victim, "r0", 400)
		})
	}
}

// The soak variant pauses each member in turn, the coordinator included,
// round after round on one cluster, for as long as WEIR_SOAK says.
func TestPausedMemberBringsNothingBackSoak(t *testing.T) {
	t.Parallel()
	d := clustertest.Soak(t)
	ps, lite := proctest.StartThree(t, "--min-cluster-size", "2")
	proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID, ps[2].ID)
	deadline := time.Now().Add(d)
	round := 0
	for ; time.Now().Before(deadline); round++ {
		pauseRound(t, ps, lite, round%3, fmt.Sprintf("r%d", round), 1000)
	}
	t.Logf("%d pauses", round)
}

// pauseRound writes n keys, pauses ps[victim] until the others have
// dropped it, deletes a third of the keys, overwrites a third and writes n
// new ones, resumes it, and checks that every acknowledged write and delete
// stands once it is back.
func pauseRound(t *testing.T, ps [3]*proctest.Proc, lite *member.Member, victim int, prefix string, n int) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	mp := grid.GetMap[string, int](lite, "paused")
	want := map[string]int{}
	var all []string
	for i := range n {
		k := fmt.Sprintf("%s-k-%d", prefix, i)
		require.NoError(t, mp.Put(ctx, k, i))
		want[k] = i
		all = append(all, k)
	}

	paused := ps[victim]
	var others []string
	for _, p := range ps {
		if p != paused {
			others = append(others, p.ID)
		}
	}
	merging := paused.Watch(regexp.MustCompile(`grid: merging entries`))
	merged := paused.Watch(regexp.MustCompile(`grid: merge after split done`))
	paused.Pause()
	proctest.WaitTable(t, lite, others...)
	for i := range n {
		k := fmt.Sprintf("%s-k-%d", prefix, i)
		switch i % 3 {
		case 0:
			require.NoError(t, mp.Delete(ctx, k))
			delete(want, k)
		case 1:
			require.NoError(t, mp.Put(ctx, k, -i))
			want[k] = -i
		}
		d := fmt.Sprintf("%s-during-%d", prefix, i)
		require.NoError(t, mp.Put(ctx, d, i))
		want[d] = i
		all = append(all, d)
	}
	paused.Resume()
	proctest.WaitTable(t, lite, ps[0].ID, ps[1].ID, ps[2].ID)
	waitMerged(t, paused, merging, merged)
	checkState(t, ctx, mp, all, want)
}

// waitMerged waits, if the resumed member began merging what it held, until
// it is done.
func waitMerged(t *testing.T, p *proctest.Proc, merging, merged <-chan string) {
	t.Helper()
	select {
	case <-merging:
		select {
		case <-merged:
		case <-time.After(time.Minute):
			t.Fatalf("%s began merging but never finished:\n%s", p.Name, p.Output())
		}
	default:
	}
}

// checkState reads keys and compares them with want: a key not in want must
// be absent.
func checkState(t *testing.T, ctx context.Context, mp *grid.Map[string, int], keys []string, want map[string]int) {
	t.Helper()
	got, err := mp.GetAll(ctx, keys)
	require.NoError(t, err)
	var back, lost []string
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case gok && !wok:
			back = append(back, k)
		case wok && (!gok || g != w):
			lost = append(lost, k)
		}
	}
	require.Empty(t, back, "%d acknowledged deletes undone", len(back))
	require.Empty(t, lost, "%d acknowledged writes lost or undone", len(lost))
}
