// Package proctest builds the weir binary and runs member processes on
// loopback for tests whose point is a real crash: kill -9 of a process.
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds member/cmd/weir once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "weir-proctest-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "weir")
		cmd := exec.Command("go", "build", "-o", build.path, "github.com/weir-dev/weir/member/cmd/weir")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build weir: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Proc is a running weir member process.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	Name string
	// ID, GossipAddr and TransportAddr are read from the first line the
	// member prints.
	ID, GossipAddr, TransportAddr string

	mu     sync.Mutex
	output strings.Builder
	exited chan struct{}
}

var startLine = regexp.MustCompile(`^weir member (\S+) \(id (\S+)\) gossip (\S+) transport (\S+)$`)

// StartMember starts "weir member" with the given extra flags, on loopback
// with ephemeral ports and fast failure detection, and waits until it has
// joined. The process is killed at the end of the test if still running.
func StartMember(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	full := append([]string{"member", "--name", name, "--bind", "127.0.0.1:0", "--local", "--log-level", "info"}, args...)
	cmd := exec.Command(Binary(t), full...)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, cmd: cmd, Name: name, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.record(sc.Text() + "\n")
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("member %s exited before starting:\n%s", name, p.Output())
			}
			if m := startLine.FindStringSubmatch(line); m != nil {
				p.ID, p.GossipAddr, p.TransportAddr = m[2], m[3], m[4]
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-timeout:
			t.Fatalf("member %s did not start within 60s:\n%s", name, p.Output())
		}
	}
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.record(string(b))
	return len(b), nil
}

func (p *Proc) record(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.output.WriteString(s)
}

// Output is everything the process printed so far, stdout and stderr.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Kill sends SIGKILL: the process dies without leaving the cluster.
func (p *Proc) Kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.exited
}

// Stop sends SIGTERM and waits for a graceful exit.
func (p *Proc) Stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("member %s exited with %d:\n%s", p.Name, code, p.Output())
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

var _ io.Writer = (*lockedWriter)(nil)
