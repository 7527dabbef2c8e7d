// Command weir runs a standalone weir member and talks to a cluster.
//
//	weir member --bind 127.0.0.1:5701 --join 127.0.0.1:5702
//	weir status --addr 127.0.0.1:6701
//	weir job suspend JOB-ID --token "$WEIR_TOKEN"
//
// Run "weir --help" or "weir member --help" for the flags; every flag can
// also be set with the environment variable named in its help.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/weir-dev/weir/cli"
)

const usage = `weir: an in-memory data grid with an embedded stream-processing engine.

Usage:
  weir <command> [flags]

Commands:
  member    run a cluster member until SIGINT or SIGTERM
  status    the cluster's members and partitions
  jobs      list the jobs
  job       show|cancel|suspend|resume|restart ID, export ID NAME
  maps      list the maps and their entries per member
  map       get|delete NAME KEY, put NAME KEY JSON, size NAME
  help      show this help, or "weir help <command>" for a command's flags

The commands but member call the HTTP endpoint of a running member
(--addr, default 127.0.0.1:6701, or $WEIR_ADDR); state changes need its
token (--token or $WEIR_TOKEN). --output json prints JSON.

Run "weir <command> --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	case "help":
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "member":
		return cli.RunMember("weir member", args[1:], stdout, stderr)
	case "status", "jobs", "job", "maps", "map":
		return cli.RunCommand("weir "+args[0], args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "weir: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
