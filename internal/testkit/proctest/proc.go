// Package proctest builds the weir binary and runs member processes on
// loopback for tests whose point is a real crash or pause: kill -9, or
// SIGSTOP and SIGCONT, of a process.
package proctest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
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

// Binary builds cmd/weir with the test jobs of internal/testkit/testjobs
// and returns its path; WEIR_TEST_BINARY names one built elsewhere instead.
// The binary is shared by every test process of one source tree: go test
// ./... runs several packages that start members, and each linking its own
// copy cost seconds of CPU apiece. It lives in a directory named for a hash
// of the sources it is built from, and the first process to need it builds
// it under a file lock while the others wait.
func Binary(t testing.TB) string {
	t.Helper()
	if path := os.Getenv("WEIR_TEST_BINARY"); path != "" {
		return path // a binary built elsewhere, e.g. of another revision to compare with
	}
	build.once.Do(func() { build.path, build.err = buildShared() })
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func buildShared() (string, error) {
	root := moduleRoot()
	key, err := sourceKey(root)
	if err != nil {
		return "", fmt.Errorf("hash the sources: %w", err)
	}
	base := filepath.Join(os.TempDir(), "weir-proctest")
	dir := filepath.Join(base, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	path := filepath.Join(dir, "weir")
	now := time.Now()
	_ = os.Chtimes(dir, now, now) // in use: not stale (removeStale)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	// The weirtest tag links the jobs of internal/testkit/testjobs. Built
	// under another name and renamed, so that no one runs half a binary.
	tmp := path + ".tmp"
	cmd := exec.Command("go", "build", "-tags", "weirtest", "-o", tmp, "github.com/weir-dev/weir/cmd/weir")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build weir: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	removeStale(base, key)
	return path, nil
}

// sourceKey hashes what the binary is built from: every non-test Go file
// and module file of the tree, the Go version and the build environment.
func sourceKey(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), runtime.GOOS, runtime.GOARCH, os.Getenv("GOFLAGS"), os.Getenv("CGO_ENABLED"))
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) && name != "go.mod" && name != "go.sum" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)[:12]), err
}

// removeStale removes binaries of other source trees not used for a day.
func removeStale(base, keep string) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.Name() != keep && time.Since(info.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
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

	mu       sync.Mutex
	output   strings.Builder
	watchers []watcher
	exited   chan struct{}
}

type watcher struct {
	re *regexp.Regexp
	ch chan string
}

var startLine = regexp.MustCompile(`^weir member (\S+) \(id (\S+)\) gossip (\S+) transport (\S+)$`)

// StartMember starts "weir member" with the given extra flags, on loopback
// with ephemeral ports and fast failure detection, and waits until it has
// joined. The process is killed at the end of the test if still running.
func StartMember(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return StartMemberIn(t, nil, name, args...)
}

// StartMemberIn is StartMember with the command run under wrap, a command
// prefix such as "ip netns exec NS" that execs its arguments (so the
// process signalled is the member). Later flags in args override the
// loopback defaults, such as --bind.
func StartMemberIn(t testing.TB, wrap []string, name string, args ...string) *Proc {
	t.Helper()
	full := append([]string{"member", "--name", name, "--bind", "127.0.0.1:0", "--local", "--log-level", "info"}, args...)
	argv := append(append(slices.Clone(wrap), Binary(t)), full...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	p := &Proc{t: t, cmd: cmd, Name: name, exited: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	lines := make(chan string, 64)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.line(sc.Text())
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.line(sc.Text())
		}
	}()
	go func() {
		readers.Wait() // Wait closes the pipes: read them to the end first
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

// line records a line the process printed and passes it to the watchers
// it matches.
func (p *Proc) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.output.WriteString(s)
	p.output.WriteByte('\n')
	for _, w := range p.watchers {
		if w.re.MatchString(s) {
			select {
			case w.ch <- s:
			default: // a watcher that does not keep up misses lines
			}
		}
	}
}

// Watch returns a channel that receives the lines the process prints from
// now on (stdout and stderr) that match re. It holds 64 lines; a reader
// that falls behind misses lines rather than stall the process.
func (p *Proc) Watch(re *regexp.Regexp) <-chan string {
	ch := make(chan string, 64)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchers = append(p.watchers, watcher{re: re, ch: ch})
	return ch
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

// Pause sends SIGSTOP: the process stops dead, sockets open, until Resume.
// To the others it looks like a member that died; to itself, like no time
// passed. Kill ends a paused process too.
func (p *Proc) Pause() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("pause %s: %v", p.Name, err)
	}
}

// Resume sends SIGCONT to a paused process.
func (p *Proc) Resume() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("resume %s: %v", p.Name, err)
	}
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

// PID is the process's ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// KeepLogs writes the output of procs, one file each (<name>-<i>.log, i
// counting the processes started), to a new directory named after prefix
// when t has failed, and logs where. Call it from a cleanup that runs
// after the processes are gone.
func KeepLogs(t testing.TB, prefix string, procs []*Proc) {
	if !t.Failed() {
		return
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return
	}
	for i, p := range procs {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.log", p.Name, i)), []byte(p.Output()), 0o644)
	}
	t.Logf("member process logs: %s", dir)
}
