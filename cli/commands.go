package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/weir-dev/weir/ops"
)

// DefaultAddr is the HTTP endpoint the commands call by default: that of
// a "weir member" started with the default --bind.
const DefaultAddr = "127.0.0.1:6701"

// Commands are the commands RunCommand runs, with their usage.
var Commands = map[string]string{
	"status": "status                           the cluster's members and partitions",
	"jobs":   "jobs                             the jobs, newest first",
	"job":    "job show|cancel|suspend|resume|restart ID, job export ID NAME",
	"maps":   "maps [--all]                     the maps and their entries per member",
	"map":    "map get|delete NAME KEY, map put NAME KEY JSON, map size NAME",
}

type commandFlags struct {
	fs      *flag.FlagSet
	addr    string
	token   string
	output  string
	timeout time.Duration
	all     bool
	jsonKey bool
}

// RunCommand runs one of the Commands against a running cluster, through
// the HTTP API of one of its members (--addr). It returns the exit code: 0,
// 1 when the call failed (with a one-line error on stderr), 2 for bad
// arguments.
func RunCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	name := strings.TrimPrefix(cmd, "weir ")
	usage, ok := Commands[name]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command\n", cmd)
		return 2
	}
	f := &commandFlags{fs: flag.NewFlagSet(cmd, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: weir %s\n\nFlags (each also read from the environment variable shown):\n", usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.addr, "addr", DefaultAddr, "HTTP endpoint of any member, host:port ($WEIR_ADDR)")
	fs.StringVar(&f.token, "token", "", "the members' HTTP token, needed to change state and off loopback ($WEIR_TOKEN)")
	fs.StringVar(&f.output, "output", "table", "table or json ($WEIR_OUTPUT)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long to wait for the cluster ($WEIR_TIMEOUT)")
	envs := [][2]string{{"addr", "WEIR_ADDR"}, {"token", "WEIR_TOKEN"}, {"output", "WEIR_OUTPUT"}, {"timeout", "WEIR_TIMEOUT"}}
	if name == "maps" {
		fs.BoolVar(&f.all, "all", false, "also list the maps weir keeps for itself (job records, snapshots)")
	}
	if name == "map" {
		fs.BoolVar(&f.jsonKey, "json-key", false, "KEY is a JSON value (such as 42), not a string")
	}
	// Flags may come before, between or after the arguments. A negative
	// number (map put m k -5) is an argument: no flag starts with a digit.
	var pos []string
	for {
		for len(args) > 0 && negativeNumber(args[0]) {
			pos, args = append(pos, args[0]), args[1:]
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
		if len(args) == 0 {
			break
		}
	}
	if err := setFromEnv(fs, envs); err != nil {
		return 2
	}
	if f.output != "table" && f.output != "json" {
		fmt.Fprintf(stderr, "%s: --output %q: want table or json\n", cmd, f.output)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r := &runner{c: newClient(f.addr, f.token, f.timeout), f: f, out: stdout, errOut: stderr, cmd: cmd}
	var err error
	switch name {
	case "status":
		err = r.status(ctx, pos)
	case "jobs":
		err = r.jobs(ctx, pos)
	case "job":
		err = r.job(ctx, pos)
	case "maps":
		err = r.maps(ctx, pos)
	case "map":
		err = r.mapCmd(ctx, pos)
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nUsage: weir %s\n", cmd, err, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) }

func wantArgs(args []string, n int, what string) error {
	if len(args) != n {
		return usageError(fmt.Sprintf("want %s, got %d argument(s)", what, len(args)))
	}
	return nil
}

type runner struct {
	c      *client
	f      *commandFlags
	out    io.Writer
	errOut io.Writer
	cmd    string
}

// emit prints v as JSON, or calls table.
func (r *runner) emit(v any, table func(w *tabwriter.Writer)) error {
	if r.f.output == "json" {
		enc := json.NewEncoder(r.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func (r *runner) status(ctx context.Context, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	var c ops.Cluster
	if err := r.c.do(ctx, "GET", "cluster", nil, &c); err != nil {
		return err
	}
	return r.emit(c, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "cluster %s, weir %s: %d members, %d partitions (%d backups each), table v%d, %d migrations in flight\n\n",
			c.Name, c.Version, len(c.Members), c.Partitions, c.BackupCount, c.TableVersion, c.MigrationsLive)
		fmt.Fprintln(w, "NAME\tID\tGOSSIP\tTRANSPORT\tOWNED\tBACKUPS\tMIGRATIONS\tROLE")
		for _, m := range c.Members {
			role := ""
			switch {
			case m.Coordinator:
				role = "coordinator"
			case m.Lite:
				role = "lite"
			}
			if m.Error != "" {
				role += " (unreachable: " + m.Error + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", m.Name, m.ID, m.Gossip, m.Transport, m.Owned, m.Backups, m.MigrationsPending, strings.TrimSpace(role))
		}
	})
}

func (r *runner) jobs(ctx context.Context, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	var js []ops.JobSummary
	if err := r.c.do(ctx, "GET", "jobs", nil, &js); err != nil {
		return err
	}
	return r.emit(js, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tSTATUS\tRESTARTS\tSNAPSHOTS\tSUBMITTED")
		for _, j := range js {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", j.ID, j.Name, j.Status, j.Restarts, j.Snapshots, j.Submitted.Local().Format(time.DateTime))
		}
	})
}

func (r *runner) job(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return usageError("want an action and a job ID")
	}
	action, id := args[0], args[1]
	switch action {
	case "show":
		if err := wantArgs(args, 2, "job show ID"); err != nil {
			return err
		}
		return r.showJob(ctx, id)
	case "cancel", "suspend", "resume", "restart":
		if err := wantArgs(args, 2, "job "+action+" ID"); err != nil {
			return err
		}
		return r.control(ctx, id, action, "")
	case "export":
		if err := wantArgs(args, 3, "job export ID NAME"); err != nil {
			return err
		}
		return r.control(ctx, id, action, args[2])
	}
	return usageError(fmt.Sprintf("unknown job action %q", action))
}

func (r *runner) showJob(ctx context.Context, id string) error {
	var d ops.JobDetail
	if err := r.c.do(ctx, "GET", "jobs/"+url.PathEscape(id), nil, &d); err != nil {
		return err
	}
	return r.emit(d, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "job %s (%s): %s\n", d.ID, d.Name, d.Status)
		if d.Error != "" {
			fmt.Fprintf(w, "error: %s\n", d.Error)
		}
		fmt.Fprintf(w, "submitted %s, guarantee %s, execution %d, restarts %d, snapshots %d\n",
			d.Submitted.Local().Format(time.DateTime), d.Guarantee, d.Execution, d.Restarts, d.Snapshots)
		fmt.Fprintf(w, "members %s, coordinator %s\n", strings.Join(d.Members, ", "), d.Coordinator)
		if s := d.LastSnapshot; s != nil {
			fmt.Fprintf(w, "last snapshot %d: %d bytes, %d entries, took %.3fs\n", s.ID, s.Bytes, s.Entries, s.DurationSeconds)
		}
		fmt.Fprintln(w, "\nVERTEX\tINSTANCES\tITEMS IN\tITEMS OUT\tQUEUED\tLATE\tWATERMARK LAG")
		for _, v := range d.Vertices {
			lag := "-"
			if v.WatermarkLagSeconds != nil {
				lag = fmt.Sprintf("%.1fs", *v.WatermarkLagSeconds)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", v.Name, v.Instances, v.ItemsIn, v.ItemsOut, v.Queued, v.Late, lag)
		}
		fmt.Fprintln(w, "\nEDGE\tROUTING")
		for _, e := range d.Edges {
			dist := ""
			if e.Distributed {
				dist = ", distributed"
			}
			fmt.Fprintf(w, "%s -> %s\t%s%s\n", e.From, e.To, e.Routing, dist)
		}
		if d.MetricsError != "" {
			fmt.Fprintf(w, "\n(metrics partial: %s)\n", d.MetricsError)
		}
	})
}

// progressEvery is how often a job action that has not finished reports
// that it still runs.
var progressEvery = time.Second

// control runs a job action, printing progress to stderr while it lasts
// (a suspend or an export waits for a snapshot).
func (r *runner) control(ctx context.Context, id, action, name string) error {
	path := "jobs/" + url.PathEscape(id) + "/" + action
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	var js ops.JobSummary
	done := make(chan error, 1)
	go func() { done <- r.c.do(ctx, "POST", path, nil, &js) }()
	start := time.Now()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			if r.f.output == "json" {
				return r.emit(js, nil)
			}
			what := action
			if name != "" {
				what += " as " + name
			}
			fmt.Fprintf(r.out, "job %s: %s done in %.1fs; status %s\n", id, what, time.Since(start).Seconds(), js.Status)
			return nil
		case <-tick.C:
			status := "?"
			var cur ops.JobSummary
			sctx, cancel := context.WithTimeout(ctx, progressEvery)
			if err := r.c.do(sctx, "GET", "jobs/"+url.PathEscape(id), nil, &cur); err == nil {
				status = cur.Status
			}
			cancel()
			fmt.Fprintf(r.errOut, "%s job %s: %.0fs, status %s, snapshots %d...\n", action, id, time.Since(start).Seconds(), status, cur.Snapshots)
		}
	}
}

func (r *runner) maps(ctx context.Context, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	var ms []ops.MapSummary
	if err := r.c.do(ctx, "GET", "maps", nil, &ms); err != nil {
		return err
	}
	shown := ms[:0]
	for _, m := range ms {
		if r.f.all || !m.Internal {
			shown = append(shown, m)
		}
	}
	return r.emit(shown, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "NAME\tENTRIES\tPER MEMBER")
		for _, m := range shown {
			var per []string
			for k, v := range m.EntriesByMember {
				per = append(per, fmt.Sprintf("%s=%d", k, v))
			}
			slices.Sort(per)
			fmt.Fprintf(w, "%s\t%d\t%s\n", m.Name, m.Entries, strings.Join(per, " "))
		}
	})
}

func (r *runner) entryPath(name, key string) string {
	p := "maps/" + url.PathEscape(name) + "/entries/" + url.PathEscape(key)
	if r.f.jsonKey {
		p += "?key=json"
	}
	return p
}

func (r *runner) mapCmd(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return usageError("want an action and a map name")
	}
	action, name := args[0], args[1]
	switch action {
	case "size":
		if err := wantArgs(args, 2, "map size NAME"); err != nil {
			return err
		}
		var s ops.MapSize
		if err := r.c.do(ctx, "GET", "maps/"+url.PathEscape(name), nil, &s); err != nil {
			return err
		}
		return r.emit(s, func(w *tabwriter.Writer) { fmt.Fprintln(w, s.Size) })
	case "get":
		if err := wantArgs(args, 3, "map get NAME KEY"); err != nil {
			return err
		}
		var e ops.Entry
		if err := r.c.do(ctx, "GET", r.entryPath(name, args[2]), nil, &e); err != nil {
			return err
		}
		if !e.Found && r.f.output != "json" {
			return fmt.Errorf("map %s has no key %q", name, args[2])
		}
		return r.emit(e, func(w *tabwriter.Writer) {
			b, _ := json.Marshal(e.Value)
			fmt.Fprintln(w, string(b))
		})
	case "put":
		if err := wantArgs(args, 4, "map put NAME KEY JSON"); err != nil {
			return err
		}
		if !json.Valid([]byte(args[3])) {
			return usageError(fmt.Sprintf("value %q is not JSON (a string is quoted: '\"text\"')", args[3]))
		}
		var e ops.Entry
		if err := r.c.do(ctx, "PUT", r.entryPath(name, args[2]), strings.NewReader(args[3]), &e); err != nil {
			return err
		}
		return r.emit(e, func(w *tabwriter.Writer) { fmt.Fprintf(w, "put %s[%q]\n", name, args[2]) })
	case "delete":
		if err := wantArgs(args, 3, "map delete NAME KEY"); err != nil {
			return err
		}
		if err := r.c.do(ctx, "DELETE", r.entryPath(name, args[2]), nil, nil); err != nil {
			return err
		}
		return r.emit(map[string]any{"deleted": args[2]}, func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted %s[%q]\n", name, args[2]) })
	}
	return usageError(fmt.Sprintf("unknown map action %q", action))
}

// negativeNumber reports whether arg is a negative number, such as -5 or
// -2.5e3, rather than a flag.
func negativeNumber(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(arg, 64)
	return err == nil
}
