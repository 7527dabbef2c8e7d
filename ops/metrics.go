package ops

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/grid"
	"github.com/weir-dev/weir/member"
)

// collector reads the member's counters when Prometheus scrapes: nothing
// is kept or updated between scrapes.
type collector struct {
	h *member.Host
}

func newCollector(h *member.Host) *collector { return &collector{h: h} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dMembers        = desc("weir_member_members", "Live members this member sees, itself included.")
	dPartitions     = desc("weir_member_partitions", "Partitions this member holds, by role (owner or backup).", "role")
	dMigrations     = desc("weir_member_migrations_total", "Partitions this member sent to others as a migration's source.")
	dMigPending     = desc("weir_member_migrations_pending", "Partitions frozen here for a migration, plus copies received and not yet committed.")
	dTableVersion   = desc("weir_member_table_version", "Version of the partition table this member applied.")
	dTableStale     = desc("weir_member_table_stale", "1 while this member's partition table may be stale (quorum lost).")
	dGossipHealth   = desc("weir_member_gossip_health_score", "memberlist's health score: 0 is healthy, higher when this member's probes fail.")
	dBytesSent      = desc("weir_transport_sent_bytes_total", "Bytes written to member-to-member connections.")
	dBytesRecv      = desc("weir_transport_received_bytes_total", "Bytes read from member-to-member connections.")
	dFramesSent     = desc("weir_transport_sent_frames_total", "Frames sent to other members.")
	dFramesRecv     = desc("weir_transport_received_frames_total", "Frames received from other members.")
	dConnections    = desc("weir_transport_connections", "Member-to-member connections open, both directions.")
	dRefused        = desc("weir_transport_refused_handshakes_total", "Incoming connections refused at or before the handshake (bad handshake, wrong secret or cluster, too many pending).")
	dBadFrames      = desc("weir_transport_bad_frames_total", "Connections closed after a malformed, oversized or stalled frame.")
	dRefusedGossip  = desc("weir_gossip_refused_streams_total", "Gossip TCP streams refused before memberlist read them.")
	dMapOps         = desc("weir_map_operations_total", "Map operations through this member's handles, by kind (near-cache hits excepted).", "map", "op")
	dMapLatency     = desc("weir_map_operation_duration_seconds", "Latency of map operations through this member's handles, sampled: one operation in 16 is timed.", "map", "op")
	dMapEntries     = desc("weir_map_entries", "Entries held by this member, by role: in partitions it owns, or backs up.", "map", "role")
	dNearHits       = desc("weir_map_near_cache_hits_total", "Gets answered by a near cache of this member.", "map")
	dNearMisses     = desc("weir_map_near_cache_misses_total", "Gets a near cache of this member could not answer.", "map")
	dNearEntries    = desc("weir_map_near_cache_entries", "Entries in the near caches of this member.", "map")
	dJournalEvents  = desc("weir_map_journal_events", "Events held in the event journals of the partitions this member owns.", "map")
	dJournalCap     = desc("weir_map_journal_capacity_events", "Room in the event journals of the partitions this member owns.", "map")
	dJobStatus      = desc("weir_job_status", "1 for the job's current status, 0 for the others (reported by the job's coordinator).", "job_id", "job_name", "status")
	dJobRestarts    = desc("weir_job_restarts_total", "Executions of the job after the first (reported by its coordinator).", "job_id", "job_name")
	dJobSnapshots   = desc("weir_job_snapshots_total", "Snapshots of the job completed (reported by its coordinator).", "job_id", "job_name")
	dSnapDuration   = desc("weir_job_snapshot_duration_seconds", "How long the job's last snapshot took.", "job_id", "job_name")
	dSnapBytes      = desc("weir_job_snapshot_size_bytes", "Size of the job's last snapshot.", "job_id", "job_name")
	dSnapAge        = desc("weir_job_snapshot_age_seconds", "Time since the job's last snapshot completed.", "job_id", "job_name")
	dVertexIn       = desc("weir_job_vertex_items_in_total", "Items the vertex's instances on this member processed (since the job's current execution).", "job_id", "job_name", "vertex")
	dVertexOut      = desc("weir_job_vertex_items_out_total", "Items the vertex's instances on this member emitted (since the job's current execution).", "job_id", "job_name", "vertex")
	dVertexQueue    = desc("weir_job_vertex_queue_fill_ratio", "Fill of the fullest inbound queue of the vertex on this member, 0 to 1.", "job_id", "job_name", "vertex")
	dVertexLag      = desc("weir_job_vertex_watermark_lag_seconds", "Wall-clock time minus the vertex's watermark on this member.", "job_id", "job_name", "vertex")
	dVertexLate     = desc("weir_job_vertex_late_items_total", "Items that arrived behind the watermark, at the vertex on this member.", "job_id", "job_name", "vertex")
	dVertexInstance = desc("weir_job_vertex_instances", "Processor instances of the vertex on this member.", "job_id", "job_name", "vertex")
	allDescs        = []*prometheus.Desc{dMembers, dPartitions, dMigrations, dMigPending, dTableVersion, dTableStale, dGossipHealth,
		dBytesSent, dBytesRecv, dFramesSent, dFramesRecv, dConnections, dRefused, dBadFrames, dRefusedGossip,
		dMapOps, dMapLatency, dMapEntries, dNearHits, dNearMisses, dNearEntries, dJournalEvents, dJournalCap,
		dJobStatus, dJobRestarts, dJobSnapshots, dSnapDuration, dSnapBytes, dSnapAge,
		dVertexIn, dVertexOut, dVertexQueue, dVertexLag, dVertexLate, dVertexInstance}
)

// latencyBounds are the histogram's bucket bounds in seconds.
var latencyBounds = func() []float64 {
	b := make([]float64, grid.LatencyBuckets)
	for i := range b {
		b[i] = grid.LatencyBound(i).Seconds()
	}
	return b
}()

var jobStatuses = []dag.JobStatus{dag.Starting, dag.Running, dag.Completing, dag.Completed, dag.Failed, dag.Cancelled, dag.Restarting, dag.Suspended}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	st := c.h.Stats()
	gauge(dMembers, float64(st.Members))
	gauge(dPartitions, float64(st.Owned), "owner")
	gauge(dPartitions, float64(st.Backups), "backup")
	counter(dMigrations, float64(st.Migrations))
	gauge(dMigPending, float64(st.MigrationsPending))
	gauge(dTableVersion, float64(st.TableVersion))
	gauge(dTableStale, b2f(st.Stale))
	gauge(dGossipHealth, float64(st.GossipHealth))
	t := st.Transport
	counter(dBytesSent, float64(t.BytesSent))
	counter(dBytesRecv, float64(t.BytesReceived))
	counter(dFramesSent, float64(t.FramesSent))
	counter(dFramesRecv, float64(t.FramesReceived))
	gauge(dConnections, float64(t.Connections))
	counter(dRefused, float64(t.RefusedConnections))
	counter(dBadFrames, float64(t.BadFrames))
	counter(dRefusedGossip, float64(t.RefusedGossipStreams))

	for _, ms := range grid.Stats(c.h) {
		c.collectMap(ch, ms, gauge, counter)
	}
	now := time.Now()
	for _, js := range dag.LocalStats(c.h) {
		if js.Coordinated {
			for _, s := range jobStatuses {
				gauge(dJobStatus, b2f(js.Info.Status == s), js.ID, js.Name, s.String())
			}
			counter(dJobRestarts, float64(js.Info.Restarts), js.ID, js.Name)
			counter(dJobSnapshots, float64(js.Info.Snapshots), js.ID, js.Name)
			if sn := js.Snapshot; sn.ID != 0 {
				gauge(dSnapDuration, sn.Duration.Seconds(), js.ID, js.Name)
				gauge(dSnapBytes, float64(sn.Bytes), js.ID, js.Name)
				gauge(dSnapAge, now.Sub(sn.At).Seconds(), js.ID, js.Name)
			}
		}
		for _, v := range js.Vertices {
			counter(dVertexIn, float64(v.ItemsIn), js.ID, js.Name, v.Vertex)
			counter(dVertexOut, float64(v.ItemsOut), js.ID, js.Name, v.Vertex)
			gauge(dVertexQueue, v.QueueFill, js.ID, js.Name, v.Vertex)
			counter(dVertexLate, float64(v.Late), js.ID, js.Name, v.Vertex)
			gauge(dVertexInstance, float64(v.Instances), js.ID, js.Name, v.Vertex)
			if lag, ok := watermarkLag(v.Watermark, now); ok {
				gauge(dVertexLag, lag.Seconds(), js.ID, js.Name, v.Vertex)
			}
		}
	}
}

func (c *collector) collectMap(ch chan<- prometheus.Metric, ms grid.MapStats, gauge, counter func(*prometheus.Desc, float64, ...string)) {
	gauge(dMapEntries, float64(ms.Entries), ms.Name, "owner")
	gauge(dMapEntries, float64(ms.BackupEntries), ms.Name, "backup")
	if ms.Near != (grid.NearCacheStats{}) {
		counter(dNearHits, float64(ms.Near.Hits), ms.Name)
		counter(dNearMisses, float64(ms.Near.Misses), ms.Name)
		gauge(dNearEntries, float64(ms.Near.Entries), ms.Name)
	}
	if ms.JournalCapacity > 0 {
		gauge(dJournalEvents, float64(ms.JournalEvents), ms.Name)
		gauge(dJournalCap, float64(ms.JournalCapacity), ms.Name)
	}
	for k, n := range ms.Ops {
		if n == 0 {
			continue
		}
		op := grid.OpKinds[k]
		counter(dMapOps, float64(n), ms.Name, op)
		buckets := make(map[float64]uint64, len(latencyBounds))
		var cum, count uint64
		for i, n := range ms.Latency[k] {
			count += uint64(n)
			if i < len(latencyBounds) {
				cum += uint64(n)
				buckets[latencyBounds[i]] = cum
			}
		}
		ch <- prometheus.MustNewConstHistogram(dMapLatency, count, ms.LatencySum[k].Seconds(), buckets, ms.Name, op)
	}
}

// watermarkLag is how far behind the wall clock a watermark (event time in
// unix nanoseconds) is; false when there is none yet or it is idle.
func watermarkLag(wm int64, now time.Time) (time.Duration, bool) {
	if wm == dag.MinWatermark || wm == dag.Idle {
		return 0, false
	}
	return now.Sub(time.Unix(0, wm)), true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
