package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestProgram(t *testing.T) {
	var stderr, stdout strings.Builder
	p := &Program{Name: "bench", Workloads: []string{"a", "b", "c"}, Stderr: &stderr}
	ctx := context.Background()
	p.Run(ctx, "a", func() ([]Section, error) {
		return []Section{{Title: "1. a", Rows: []Row{RatioRow("x", 1, 1, PerSecond("ops"), NoTarget, nil)}}}, nil
	})
	p.Run(ctx, "b", func() ([]Section, error) { return nil, errors.New("b broke") })
	p.Run(ctx, "c", func() ([]Section, error) { return []Section{{Title: "3. c"}}, errors.New("c broke") })
	p.Run(ctx, "not chosen", func() ([]Section, error) {
		t.Error("Run ran a workload that was not chosen")
		return nil, nil
	})
	if p.Finish(ctx, &stdout) {
		t.Error("Finish returned true after failures")
	}

	out := trimLines(stdout.String())
	for _, want := range []string{"\n1. a\n", "\nb\n", "  note: FAILED: b broke\n", "\n3. c\n", "  note: FAILED: c broke\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(out, "bench: ") || strings.Count(out, "FAILED") != 2 {
		t.Errorf("report:\n%s", out)
	}
	wantErr := "bench: running a...\nbench: running b...\nbench: running c...\nbench: b: b broke\nbench: c: c broke\n"
	if got := stderr.String(); got != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, wantErr)
	}
}

func TestProgramCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr, stdout strings.Builder
	p := &Program{Name: "bench", Workloads: []string{"a"}, Stderr: &stderr}
	p.Run(ctx, "a", func() ([]Section, error) {
		t.Error("Run ran a workload after ctx was cancelled")
		return nil, nil
	})
	if p.Finish(ctx, &stdout) {
		t.Error("Finish returned true after ctx was cancelled")
	}
}

func TestClusterConfigValidate(t *testing.T) {
	err := ClusterConfig{Name: "x", Data: 0, Lite: -1}.validate()
	if err == nil || !strings.Contains(err.Error(), "0 data members") || !strings.Contains(err.Error(), "-1 lite members") {
		t.Errorf("validate() = %v, want both problems", err)
	}
	if err := (ClusterConfig{Name: "x", Data: 1}).validate(); err != nil {
		t.Errorf("validate() = %v", err)
	}
}
