package weir

import (
	"context"
	"slices"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
	"github.com/weir-dev/weir/ops"
	"github.com/weir-dev/weir/resp"
)

// Config configures a member: its name, cluster, addresses, partitions,
// backups and quorum. See member.Config for every field, and DefaultConfig
// and LocalConfig for the presets.
type Config = member.Config

// Member is a running member: the user's handle on it. Give it to
// grid.GetMap for a distributed map and to dag.Submit to run a job; stop it
// with Shutdown.
type Member = member.Member

// DefaultConfig is the production preset: gossip on 0.0.0.0:5701, LAN
// failure detection, one backup per partition.
func DefaultConfig() Config { return member.DefaultConfig() }

// LocalConfig is the preset for members on one machine, in tests and demos:
// loopback, any free port, fast failure detection.
func LocalConfig() Config { return member.LocalConfig() }

// Services are the services Start gives every member, in the order they
// attach: the distributed maps (grid.Service), then the job engine
// (dag.Service), which keeps its records in maps.
func Services() []member.Service {
	return []member.Service{grid.Service(), dag.Service()}
}

// Start starts a member that serves distributed maps and runs jobs, with
// any extra services of your own attached after those (see member.Service).
// It joins the members in cfg.Join, or starts a new cluster when there are
// none, and returns once the member knows a partition table. If anything
// fails, what was started is stopped and the error says what failed.
//
// Every data member of a cluster must serve the same services: one started
// with member.Start alone, or with other extra services, is refused at join.
// A lite member (cfg.Lite) holds no data and may run in any binary.
//
// With cfg.RESPAddr set, the member also serves Redis clients there (see
// package resp), after the maps and jobs and before the extra services;
// give resp.Service among extra to choose its options. With cfg.HTTPAddr
// set, it serves its HTTP endpoint there (package ops: metrics, health
// checks, the JSON API and the console).
func Start(ctx context.Context, cfg Config, extra ...member.Service) (*Member, error) {
	services := Services()
	if cfg.RESPAddr != "" && !slices.ContainsFunc(extra, func(s member.Service) bool { return s.Name == resp.ServiceName }) {
		services = append(services, resp.Service(resp.Options{}))
	}
	if cfg.HTTPAddr != "" {
		services = append(services, ops.Service())
	}
	return member.Start(ctx, cfg, append(services, extra...)...)
}
