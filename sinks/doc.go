// Package sinks holds the connectors pipelines write to: distributed maps,
// files (exactly-once, by two-phase commit), the log, sockets, and the
// channels of the embedding program.
package sinks
