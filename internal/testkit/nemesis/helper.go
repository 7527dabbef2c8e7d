package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// HelperEnv, set in the environment of the test binary, makes it a helper
// client instead of running tests: see HelperMain.
const HelperEnv = "WEIR_NEMESIS_HELPER"

// HelperClient names the helper's operations in the history.
const HelperClient = "minority"

type helperConfig struct {
	Join, IP string
	Quorum   int
}

// helperOp is one operation as the helper prints it, a JSON line.
type helperOp struct {
	Key      string `json:"k"`
	Value    int64  `json:"v"`
	Start    int64  `json:"s"` // wall clock, ns
	End      int64  `json:"e"`
	OK       bool   `json:"ok"`
	Err      string `json:"err,omitempty"`
	NoQuorum bool   `json:"nq"`
}

// HelperMain runs a helper client when the process was started as one (by
// StartHelper, in a host's namespace), and returns its exit code and true;
// otherwise it returns false at once. Call it first in TestMain.
//
// The helper is a lite member in the host's namespace that puts unique keys
// into the register map until its standard input closes, printing each
// operation, with whether its own view of the cluster had a quorum. When a
// partition leaves its host on the minority side, its writes must be
// refused.
func HelperMain() (int, bool) {
	raw, ok := os.LookupEnv(HelperEnv)
	if !ok {
		return 0, false
	}
	var cfg helperConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "helper: %s: %v\n", HelperEnv, err)
		return 2, true
	}
	if err := runHelper(cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "helper: %v\n", err)
		return 1, true
	}
	return 0, true
}

func runHelper(hc helperConfig, stdin io.Reader, stdout io.Writer) error {
	cfg := member.LocalConfig()
	cfg.Name = "helper"
	cfg.Lite = true
	cfg.MinClusterSize = hc.Quorum
	cfg.BindAddr, cfg.TransportAddr = hc.IP+":0", hc.IP+":0"
	cfg.Join = []string{hc.Join}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	m, err := weir.Start(ctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	}()
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(stop)
	}()
	noQuorum := func() bool {
		n := 0
		for _, i := range m.Members() {
			if !i.Lite {
				n++
			}
		}
		return n < hc.Quorum
	}
	regs := grid.GetMap[string, int64](m, RegisterMap)
	enc := json.NewEncoder(stdout)
	for n := int64(1); ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		op := helperOp{Key: fmt.Sprintf("m-%d", n), Value: -n, Start: time.Now().UnixNano()}
		nq := noQuorum()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := regs.Put(ctx, op.Key, op.Value)
		cancel()
		op.End, op.OK, op.NoQuorum = time.Now().UnixNano(), err == nil, nq && noQuorum()
		if err != nil {
			op.Err = err.Error()
			if errors.Is(err, grid.ErrNoQuorum) {
				// refused at once: pace the loop rather than spin
				select {
				case <-stop:
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
}

// Helper is a running helper client process.
type Helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// StartHelper starts a helper client in host h's namespace, joining the
// member there, and appends its operations to hist as they complete. Its
// log goes to the file logPath.
func StartHelper(c *Cluster, h int, hist *History, logPath string) (*Helper, error) {
	raw, _ := json.Marshal(helperConfig{Join: c.Net.Hosts[h].IP + ":" + gossipPort, IP: c.Net.Hosts[h].IP, Quorum: c.Quorum})
	argv := append(c.Net.Wrap(h), os.Args[0], "-test.run=^$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), HelperEnv+"="+string(raw))
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own descriptor
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hp := &Helper{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(hp.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var o helperOp
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				hp.err = fmt.Errorf("helper printed %q: %v", sc.Text(), err)
				continue
			}
			op := Op{Client: HelperClient, Kind: Put, Key: o.Key, Value: o.Value, Err: o.Err, NoQuorum: o.NoQuorum,
				Start: hist.At(time.Unix(0, o.Start)), End: hist.At(time.Unix(0, o.End)), Outcome: OK}
			if !o.OK {
				op.Outcome = Unknown
			}
			hist.Append(op)
		}
		if err := cmd.Wait(); err != nil && hp.err == nil {
			hp.err = fmt.Errorf("helper: %v", err)
		}
	}()
	return hp, nil
}

// Stop closes the helper's input, so it shuts its member down and exits,
// and waits for it (killing it after 30s).
func (hp *Helper) Stop() error {
	_ = hp.stdin.Close()
	select {
	case <-hp.done:
	case <-time.After(30 * time.Second):
		_ = hp.cmd.Process.Kill()
		<-hp.done
		return errors.New("helper: did not exit within 30s of its input closing; killed")
	}
	return hp.err
}
