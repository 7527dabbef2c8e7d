package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weir-dev/weir"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/ops"
	"github.com/weir-dev/weir/resp"
)

// defaultHTTP is the member's HTTP address when --http is not given: on
// loopback, at the gossip port plus 1000 (6701 for 5701), so that members
// started side by side on one machine do not collide; any free port when
// the gossip port is.
func defaultHTTP(bind string) string {
	port := 0
	if _, p, err := net.SplitHostPort(bind); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n != 0 && n+1000 <= 65535 {
			port = n + 1000
		}
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// memberFlags binds the member flags to a Config, with environment
// variables as defaults.
type memberFlags struct {
	fs        *flag.FlagSet
	cfg       member.Config
	join      string
	secret    string
	logLevel  string
	logFormat string
	local     bool
	respNear  bool
	drain     time.Duration
	envs      [][2]string // flag name, environment variable
	http      string
}

func newMemberFlags(cmd string, stderr io.Writer) *memberFlags {
	f := &memberFlags{fs: flag.NewFlagSet(cmd, flag.ContinueOnError), cfg: member.DefaultConfig()}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns a cluster member until SIGINT or SIGTERM, then leaves gracefully:\nits partitions move to the other members first. A second signal stops at once.\nThe member prints the cluster's members each time they change.\n\nFlags (each also read from the environment variable shown):\n", cmd)
		fs.PrintDefaults()
	}
	c := &f.cfg
	str := func(p *string, name, env, def, help string) {
		fs.StringVar(p, name, def, help+" ($"+env+")")
		f.envs = append(f.envs, [2]string{name, env})
	}
	integer := func(p *int, name, env string, def int, help string) {
		fs.IntVar(p, name, def, help+" ($"+env+")")
		f.envs = append(f.envs, [2]string{name, env})
	}
	boolean := func(p *bool, name, env, help string) {
		fs.BoolVar(p, name, false, help+" ($"+env+")")
		f.envs = append(f.envs, [2]string{name, env})
	}
	str(&c.Name, "name", "WEIR_NAME", "", "member name, unique in the cluster (default: weir-<id>)")
	str(&c.ClusterName, "cluster", "WEIR_CLUSTER", c.ClusterName, "cluster name; members of other clusters are refused")
	str(&c.BindAddr, "bind", "WEIR_BIND", c.BindAddr, "gossip address host:port (port 0: any free port)")
	str(&c.AdvertiseAddr, "advertise", "WEIR_ADVERTISE", "", "gossip address other members use, if not --bind")
	str(&c.TransportAddr, "transport", "WEIR_TRANSPORT", "", "member-to-member TCP address host:port (default: --bind's host, any free port)")
	str(&c.AdvertiseTransportAddr, "advertise-transport", "WEIR_ADVERTISE_TRANSPORT", "", "transport address other members use, if not --transport")
	str(&f.join, "join", "WEIR_JOIN", "", "comma-separated gossip addresses of existing members; empty starts a new cluster")
	integer(&c.PartitionCount, "partitions", "WEIR_PARTITIONS", c.PartitionCount, "number of map partitions, the same on every member")
	integer(&c.BackupCount, "backups", "WEIR_BACKUPS", c.BackupCount, "synchronous backups per partition (0: none; a crash then loses the member's partitions)")
	integer(&c.MinClusterSize, "min-cluster-size", "WEIR_MIN_CLUSTER_SIZE", 0, "quorum: below this many data members, refuse writes and run no jobs (0: none)")
	boolean(&c.Lite, "lite", "WEIR_LITE", "lite member: owns no partitions, uses maps and submits jobs")
	str(&f.secret, "secret", "WEIR_SECRET", "", "shared secret: encrypts gossip and authenticates connections; prefer the environment variable")
	str(&c.TLSCertFile, "tls-cert", "WEIR_TLS_CERT", "", "PEM certificate of this member: with --tls-key and --tls-ca, the transport uses TLS with both sides authenticated")
	str(&c.TLSKeyFile, "tls-key", "WEIR_TLS_KEY", "", "PEM private key of --tls-cert")
	str(&c.TLSCAFile, "tls-ca", "WEIR_TLS_CA", "", "PEM certificate of the CA that signs every member's certificate")
	str(&c.RESPAddr, "resp", "WEIR_RESP", "", "serve Redis clients (RESP2 and RESP3) on host:port (port 0: any free port; default: none)")
	boolean(&f.respNear, "resp-near-cache", "WEIR_RESP_NEAR_CACHE", "with --resp: keep a copy of the string keys read through this member (faster GETs; another member's write shows when its invalidation arrives)")
	integer(&c.MaxFrameSize, "max-frame", "WEIR_MAX_FRAME", c.MaxFrameSize, "largest transport frame in bytes")
	boolean(&f.local, "local", "WEIR_LOCAL", "fast failure detection for members on one machine (member.LocalConfig timings)")
	fs.DurationVar(&f.drain, "shutdown-timeout", 60*time.Second, "how long a graceful shutdown may take to move partitions away ($WEIR_SHUTDOWN_TIMEOUT)")
	f.envs = append(f.envs, [2]string{"shutdown-timeout", "WEIR_SHUTDOWN_TIMEOUT"})
	str(&f.http, "http", "WEIR_HTTP", "", "HTTP endpoint host:port: metrics, health, API, console (default: 127.0.0.1, port --bind's + 1000; \"off\": none)")
	str(&c.HTTPToken, "http-token", "WEIR_HTTP_TOKEN", "", "token that job control and map writes over HTTP need; prefer the environment variable")
	str(&f.logLevel, "log-level", "WEIR_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&f.logFormat, "log-format", "WEIR_LOG_FORMAT", "text", "text or json (logs go to stderr)")
	return f
}

// parse parses args, then takes each flag not given from its environment
// variable (see setFromEnv).
func (f *memberFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	return setFromEnv(f.fs, f.envs)
}

// setFromEnv sets each flag of fs not given on the command line from its
// environment variable (envs pairs a flag's name with its variable),
// through the flag's own parser: a bad value in the environment is refused
// as the same value on the command line is.
func setFromEnv(fs *flag.FlagSet, envs [][2]string) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []error
	for _, fe := range envs {
		v, ok := os.LookupEnv(fe[1])
		if !ok || given[fe[0]] {
			continue
		}
		if err := fs.Set(fe[0], v); err != nil {
			errs = append(errs, fmt.Errorf("$%s=%q: %v", fe[1], v, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return err
	}
	return nil
}

func (f *memberFlags) config(stderr io.Writer) (member.Config, error) {
	cfg := f.cfg
	if cfg.BackupCount == 0 {
		// On the command line 0 says what it means; in a Config, the zero
		// value takes the default of one backup.
		cfg.BackupCount = member.NoBackups
	}
	if f.local {
		l := member.LocalConfig()
		cfg.Gossip, cfg.RejoinInterval, cfg.DialTimeout, cfg.MigrationTimeout = l.Gossip, l.RejoinInterval, l.DialTimeout, l.MigrationTimeout
	}
	for _, j := range strings.Split(f.join, ",") {
		if j = strings.TrimSpace(j); j != "" {
			cfg.Join = append(cfg.Join, j)
		}
	}
	if f.secret != "" {
		cfg.SecretKey = []byte(f.secret)
	}
	switch f.http {
	case "off":
	case "":
		cfg.HTTPAddr = defaultHTTP(cfg.BindAddr)
	default:
		cfg.HTTPAddr = f.http
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return cfg, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	return cfg, nil
}

// RunMember runs the member command: it parses args as "weir member" does
// (cmd names the command in messages, such as "weir member"), starts a
// member, prints the cluster's members as they change, and leaves the
// cluster gracefully on SIGINT or SIGTERM. It returns the exit code: 0, 1
// if the member failed, 2 for bad arguments.
//
// A service binary that registers its own jobs (dag.Register) offers the
// same command by calling RunMember, so that its standalone members run
// those jobs: Go cannot ship code to a cluster, every member must link it.
func RunMember(cmd string, args []string, stdout, stderr io.Writer) int {
	f := newMemberFlags(cmd, stderr)
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", cmd, f.fs.Args())
		return 2
	}
	cfg, err := f.config(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var extra []member.Service
	if f.respNear {
		extra = append(extra, resp.Service(resp.Options{NearCache: true}))
	}
	m, err := weir.Start(ctx, cfg, extra...)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(stdout, "weir member %s (id %s) gossip %s transport %s\n", m.Name(), m.ID(), m.Addr(), m.TransportAddr())
	if r := resp.Of(m); r != nil && r.Addr() != "" {
		fmt.Fprintf(stdout, "serving RESP on %s\n", r.Addr())
	}
	if a := ops.Addr(m); a != "" {
		fmt.Fprintf(stdout, "http endpoint http://%s (metrics /metrics, console /)\n", a)
	}
	printMembers(ctx, m, stdout)

	stop() // a second signal kills the process the default way
	fmt.Fprintf(stdout, "shutting down: moving partitions to the other members (up to %v)\n", f.drain)
	sctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := m.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "%s: shutdown: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintln(stdout, "member stopped")
	return 0
}

// printMembers prints the member list each time it changes, until ctx ends.
func printMembers(ctx context.Context, m *member.Member, w io.Writer) {
	var last []string
	for {
		ms, err := m.WaitMembers(ctx, func(ms []member.Info) bool { return !slices.Equal(describe(ms), last) })
		if err != nil {
			return
		}
		last = describe(ms)
		fmt.Fprintf(w, "members (%d):\n", len(ms))
		for _, line := range last {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

func describe(ms []member.Info) []string {
	out := make([]string, len(ms))
	for i, info := range ms {
		role := ""
		if i == 0 {
			role += " coordinator"
		}
		if info.Lite {
			role += " lite"
		}
		if info.Leaving {
			role += " leaving"
		}
		out[i] = fmt.Sprintf("%s id=%s gossip=%s transport=%s%s", info.Name, info.ID, info.GossipAddr, info.TransportAddr, role)
	}
	return out
}
