// Package sources holds the connectors pipelines read from: distributed
// maps and their event journals, files, sockets, generators and the
// channels and iterators of the embedding program.
package sources
