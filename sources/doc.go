// Package sources holds the connectors pipelines read from: distributed
// maps and their event journals, files, sockets, generators, Kafka topics,
// fixed test items, and the channels and iterators of the embedding
// program.
//
// A source is a pipeline.Source[T], read with pipeline.ReadFrom in a job's builder:
//
//	dag.Register("fleet-weights", func(p Params) (*dag.DAG, error) {
//		pl := pipeline.New()
//		readings := pipeline.ReadFrom(pl, sources.JSONLines[Reading](p.Dir, "*.jsonl"), pipeline.NoTimestamps[Reading]())
//		kg := pipeline.AggregateByKey(pipeline.GroupBy(readings, Reading.VehicleID), pipeline.Sum(Reading.Weight))
//		pipeline.WriteTo(kg, sinks.Map[string, float64]("weights"))
//		return pl.Compile()
//	})
//
// Every member builds the job from its name and parameters, and every
// member runs the source's instances (its local parallelism): each
// instance reads a share of the source, and the shares never overlap.
//
// # Connectors
//
//	connector            kind       replayable  who reads what
//	Map                  bounded    yes         each member the map partitions it owns
//	MapJournal           streaming  yes         each member the journals of the partitions it owns
//	Lines, ParseLines,   bounded    yes         each member the files of its own machine, or with
//	JSONLines, CSV,                             Shared a share of the files of a shared directory
//	CSVRecords
//	WatchLines, Watch    streaming  yes         as the file sources
//	Generator,           streaming  yes         each member the sequence numbers of the partitions
//	ItemStream           (bounded               it owns, at a share of the rate
//	                     with Limit)
//	Items                bounded    yes         each member the items of the partitions it owns
//	Kafka                streaming  yes         the Kafka partitions spread over all instances
//	Channel, Seq         bounded    no          one instance per process that registered the name
//	Socket               bounded    no          one instance in the cluster
//
// A replayable source saves where each of its partitions (a map partition,
// a file) is in every snapshot, by names that do not depend on the member
// count, so a job with a processing guarantee (dag.WithGuarantee) restarted
// after a failure, on any number of members, resumes every partition where
// its last snapshot was: nothing read is lost or read twice. A job with a
// guarantee cannot read a source that is not replayable: its submission
// fails with an error wrapping dag.ErrNotReplayable that names the source.
//
// # Event time
//
// Map journals, generators and ItemStream give items native timestamps
// (the time of the change; the time an item was due), read with
// pipeline.NativeTime. For the others, take times from the items
// (pipeline.EventTime) or the clock (pipeline.IngestionTime).
//
// # Errors
//
// A bad configuration fails the job when it starts, with an error naming
// what is wrong: a missing directory or a bad file pattern, an unreachable
// or malformed socket address, a negative rate. Every problem of a
// configuration is reported at once.
//
// A record a file source cannot parse (a line that is not JSON, a CSV
// record with the wrong number of fields, a line its parse function
// rejects) is a *ParseError naming the file and line (or byte offset). By
// default the record is skipped, counted in the processor counter
// "parse-errors" (dag.ProcessorMetrics), and the first few are logged with
// their position; with FailOnParseError it fails the job.
//
// Errors while reading (a broken connection, a line longer than
// MaxLineLength, a file that cannot be read, a journal that overwrote
// events the job had not read) fail the job with an error naming the
// source and where it was.
//
// # The embedding program's channels and iterators
//
// A job is built from parameters on every member, so a channel or an
// iterator cannot be handed to it: the program registers it under a name
// (RegisterChannel, RegisterSeq) and the job reads the name (Channel, Seq).
// Registrations belong to the process: one instance per process that
// registered the name reads it, and the instances on the other members,
// in this process or in processes that did not register the name, end
// without reading anything. If no process running the job registers the
// name within WaitRegistered, the job fails with ErrNotRegistered.
package sources
