// Package ops is a member's HTTP endpoint for operators: Prometheus
// metrics, health checks, a JSON API over the cluster, its maps and jobs
// (job control included), and a web console.
//
// weir.Start attaches it when Config.HTTPAddr is set, and "weir member"
// serves it on loopback by default. A service that composes its member by
// hand gives Service() to member.Start after the grid and the job engine:
//
//	m, err := member.Start(ctx, cfg, grid.Service(), dag.Service(), ops.Service())
//
// # Endpoints
//
//	GET  /metrics                      Prometheus metrics of this member
//	GET  /healthz                      200 while the process serves
//	GET  /readyz                       200 once joined, with a trusted table and no migration pending
//	GET  /api/v1/cluster               members, partitions per member, migrations in flight
//	GET  /api/v1/maps                  maps, entries per member, operations
//	GET  /api/v1/maps/{name}           one map's size
//	GET|PUT|DELETE /api/v1/maps/{name}/entries/{key}   one entry, as JSON
//	GET  /api/v1/jobs                  jobs, newest first
//	GET  /api/v1/jobs/{id}             one job: its DAG, per-vertex metrics
//	POST /api/v1/jobs/{id}/{cancel|suspend|resume|restart}
//	POST /api/v1/jobs/{id}/export?name=NAME
//	GET  /                             the web console
//
// # Access
//
// Calls that change state (POST, PUT, DELETE) need the member's token,
// Config.HTTPToken, as "Authorization: Bearer <token>"; a member without a
// token refuses them. Reads need no token when the endpoint listens on
// loopback only; on any other address they need the token as well, except
// /healthz and /readyz, which orchestrators probe and which tell nothing.
//
// # Metrics
//
// Metrics are read when scraped from counters the member keeps anyway, so
// serving them costs the hot paths nothing but the operation counters of
// maps, which attaching this service turns on (grid.EnableStats): an
// atomic add per operation, and a clock read on one operation in
// grid.LatencySampling. Labels are map, job and vertex names, never keys.
package ops
