package grid_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/internal/testkit/proctest"
)

// A member paused with SIGSTOP for longer than failure detection is
// dropped; its backups are promoted, and the cluster goes on writing and
// deleting. When it resumes it still holds its old copies. They must not
// bring back what the cluster deleted meanwhile, with or without a quorum
// configured, and what the cluster wrote meanwhile must stay.
func TestPausedMemberBringsNothingBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no quorum", nil},
		{"min cluster size 2", []string{"--min-cluster-size", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) { pauseAndResume(t, 400, tc.args...) })
	}
}

func pauseAndResume(t *testing.T, n int, args ...string) {
	ps, lite := proctest.StartThree(t, args...)
	p1, p2, p3 := ps[0], ps[1], ps[2]
	proctest.WaitTable(t, lite, p1.ID, p2.ID, p3.ID)
	ctx := ctxT(t, 2*time.Minute)
	mp := grid.GetMap[string, int](lite, "paused")
	want := map[string]int{}
	var all []string
	for i := range n {
		k := fmt.Sprintf("k-%d", i)
		require.NoError(t, mp.Put(ctx, k, i))
		want[k] = i
		all = append(all, k)
	}

	merging := p3.Watch(regexp.MustCompile(`grid: merging entries`))
	merged := p3.Watch(regexp.MustCompile(`grid: merge after split done`))
	p3.Pause()
	proctest.WaitTable(t, lite, p1.ID, p2.ID)
	for i := range n {
		k := fmt.Sprintf("k-%d", i)
		switch i % 3 {
		case 0:
			require.NoError(t, mp.Delete(ctx, k))
			delete(want, k)
		case 1:
			require.NoError(t, mp.Put(ctx, k, -i))
			want[k] = -i
		}
		d := fmt.Sprintf("during-%d", i)
		require.NoError(t, mp.Put(ctx, d, i))
		want[d] = i
		all = append(all, d)
	}
	p3.Resume()
	proctest.WaitTable(t, lite, p1.ID, p2.ID, p3.ID)
	select {
	case <-merging:
		// The resumed member merges what it held: wait until it is done.
		select {
		case <-merged:
		case <-time.After(time.Minute):
			t.Fatalf("p3 began merging but never finished:\n%s", p3.Output())
		}
	default:
	}
	got, err := mp.GetAll(ctx, all)
	require.NoError(t, err)
	var back, lost []string
	for _, k := range all {
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
