package sources

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weir-dev/weir/dag"
	"github.com/weir-dev/weir/pipeline"
)

// KafkaStart says where a Kafka source begins reading the partitions it
// has no saved position for when a job starts from the beginning.
type KafkaStart struct {
	kind int8 // 0 earliest, 1 latest, 2 at
	at   time.Time
}

var (
	// KafkaEarliest starts at the oldest record each partition holds (the
	// zero KafkaStart).
	KafkaEarliest = KafkaStart{}
	// KafkaLatest starts after the newest record when the job starts.
	KafkaLatest = KafkaStart{kind: 1}
)

// KafkaAt starts at the first record of each partition whose timestamp is
// at or after t (the end, where there is none).
func KafkaAt(t time.Time) KafkaStart { return KafkaStart{kind: 2, at: t} }

// KafkaConfig configures a Kafka source.
type KafkaConfig struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// Topics are the topics read, all their partitions.
	Topics []string
	// Start is where the partitions present when a job starts from the
	// beginning are read from (KafkaEarliest by default). Partitions found
	// later (added to a topic while the job runs, or absent from the
	// snapshot a job restores) are read from their earliest record, so
	// that nothing written to them is missed.
	Start KafkaStart
	// Group, when set, is a consumer group the positions of every snapshot
	// are committed to, for monitoring tools (lag). Reading never depends
	// on it: positions come from the job's snapshots.
	Group string
	// Discover is how often the topics are looked at for partitions added
	// while the job runs (default 5 s).
	Discover time.Duration
	// Options are passed to franz-go's client as they are: SASL
	// (kgo.SASL), TLS (kgo.DialTLSConfig), client ID, fetch sizes, ...
	// The source sets the brokers, the partitions it reads and the read
	// isolation (read committed, unless an option says otherwise).
	Options []kgo.Opt
}

func (c KafkaConfig) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	for _, t := range c.Topics {
		if t == "" {
			errs = append(errs, errors.New("an empty topic name"))
		}
	}
	if c.Discover < 0 {
		errs = append(errs, fmt.Errorf("negative discovery interval %v", c.Discover))
	}
	return errors.Join(errs...)
}

// Kafka is a streaming source of the records of Kafka topics, each turned
// into an item by decode (an error from it fails the job, naming the
// record's topic, partition and offset). The topics' partitions are spread
// over the source's instances on all members, each partition read by one.
// It is replayable: every snapshot keeps the next offset of each
// partition, and a job restored from it reads from exactly there, on any
// number of members; consumer-group commits (KafkaConfig.Group) are for
// monitoring only. A partition whose records the job needs were deleted
// (retention) fails the job rather than skip them.
//
// Items carry the records' timestamps as native times
// (pipeline.NativeTime), or take times from the items with
// pipeline.EventTime; watermarks are kept per Kafka partition, and a
// partition quiet for the idle timeout (Timestamps.IdleTimeout) stops
// holding the others back until it delivers again. Partitions added to a
// topic while the job runs are found (KafkaConfig.Discover) and read from
// their first record.
//
// By default it reads committed records only (read_committed), so a topic
// written by a transactional producer, such as sinks.Kafka exactly-once,
// is read without the records of aborted transactions.
//
//	src := sources.Kafka(sources.KafkaConfig{Brokers: brokers, Topics: []string{"readings"}},
//		func(r *kgo.Record) (Reading, error) { var v Reading; return v, json.Unmarshal(r.Value, &v) })
//	readings := pipeline.ReadFrom(pl, src, pipeline.NativeTime[Reading](time.Second))
func Kafka[T any](cfg KafkaConfig, decode func(*kgo.Record) (T, error)) pipeline.Source[T] {
	name := "kafka-" + strings.Join(cfg.Topics, ",")
	return pipeline.NewSource(name, func(ctx *dag.Context) (pipeline.Reader[T], error) {
		if err := cfg.validate(); err != nil {
			return nil, fmt.Errorf("kafka source: %w", err)
		}
		if decode == nil {
			return nil, errors.New("kafka source: no decode function")
		}
		if cfg.Discover == 0 {
			cfg.Discover = 5 * time.Second
		}
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(cfg.Brokers...),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NoResetOffset()),
			kgo.WithHooks(wakeHook{ctx}),
		}, cfg.Options...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka source: %w", err)
		}
		return &kafkaReader[T]{
			ctx: ctx, cfg: cfg, decode: decode, cl: cl, adm: kadm.NewClient(cl),
			index: map[topicPartition]int{}, restored: map[topicPartition]int64{},
			found: make(chan []foundPartition, 1), commits: make(chan kadm.Offsets, 1),
		}, nil
	}, pipeline.Replayable())
}

// wakeHook wakes the source's processor when fetched records arrive, so a
// quiet source is read as soon as a record comes instead of on its next
// poll.
type wakeHook struct{ ctx *dag.Context }

func (h wakeHook) OnFetchBatchRead(kgo.BrokerMetadata, string, int32, kgo.FetchBatchMetrics) {
	h.ctx.Wake()
}

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string {
	return tp.topic + "/" + strconv.FormatInt(int64(tp.partition), 10)
}

// foundPartition is a partition the discovery found, with the offset to
// read it from (when the snapshot the job restored has none).
type foundPartition struct {
	tp    topicPartition
	start int64
}

// KafkaOwner is the index of the source instance (dag.Context.GlobalIndex)
// that reads partition of topic, of total instances: consecutive
// partitions of a topic go to consecutive instances, and the owner of a
// partition does not change when partitions are added.
func KafkaOwner(topic string, partition int32, total int) int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	return int((uint64(h.Sum32()) + uint64(partition)) % uint64(total))
}

type kafkaReader[T any] struct {
	ctx    *dag.Context
	cfg    KafkaConfig
	decode func(*kgo.Record) (T, error)
	cl     *kgo.Client
	adm    *kadm.Client

	// Touched by the processor's goroutine only.
	parts    []topicPartition       // read, by source partition index
	next     []int64                // next offset, by index
	index    map[topicPartition]int // index of a partition read
	restored map[topicPartition]int64
	started  bool
	pending  []*kgo.Record // polled, not handed out yet

	// The discovery goroutine sends the partitions it finds on found, and
	// commits the positions it receives on commits.
	found   chan []foundPartition
	commits chan kadm.Offsets
	stop    context.CancelFunc
	wg      sync.WaitGroup
	failed  chan error // the discovery's fatal error
}

func (r *kafkaReader[T]) Partitions() int { return len(r.parts) }

func (r *kafkaReader[T]) mine(tp topicPartition) bool {
	return KafkaOwner(tp.topic, tp.partition, r.ctx.TotalParallelism) == r.ctx.GlobalIndex
}

// start begins the discovery, on the first Read: after Seek, so it knows
// whether the job restored positions.
func (r *kafkaReader[T]) start() {
	r.started = true
	ctx, cancel := context.WithCancel(r.ctx.Context())
	r.stop = cancel
	r.failed = make(chan error, 1)
	first := r.cfg.Start
	if len(r.restored) > 0 {
		first = KafkaEarliest
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.discover(ctx, first)
	}()
}

// discover looks for the instance's partitions now and every
// cfg.Discover, and resolves where new ones start: with start in the
// first round, at their earliest record after it.
func (r *kafkaReader[T]) discover(ctx context.Context, start KafkaStart) {
	known := map[topicPartition]bool{}
	tick := time.NewTicker(r.cfg.Discover)
	defer tick.Stop()
	var found []foundPartition // found, not handed over yet
	for {
		fresh, err := r.lookup(ctx, known, start)
		switch {
		case err == nil:
			start = KafkaEarliest
			for _, f := range fresh {
				known[f.tp] = true
			}
			found = append(found, fresh...)
		case ctx.Err() != nil:
			return
		case isMissingTopic(err):
			r.failed <- err
			return
		default:
			r.ctx.Logger.Warn("kafka source: looking for partitions", "err", err)
		}
		if len(found) > 0 {
			select {
			case r.found <- found:
				found = nil
				r.ctx.Wake()
			default: // the reader has not taken the last batch yet
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case offs := <-r.commits:
			if _, err := r.adm.CommitOffsets(ctx, r.cfg.Group, offs); err != nil && ctx.Err() == nil {
				r.ctx.Logger.Debug("kafka source: committing positions to the group", "group", r.cfg.Group, "err", err)
			}
		}
	}
}

func isMissingTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition)
}

// lookup lists the partitions of the topics the instance reads and is not
// reading yet, with the offsets where start says to read them from.
func (r *kafkaReader[T]) lookup(ctx context.Context, known map[topicPartition]bool, start KafkaStart) ([]foundPartition, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	details, err := r.adm.ListTopics(ctx, r.cfg.Topics...)
	if err != nil {
		return nil, err
	}
	var fresh []topicPartition
	for _, t := range r.cfg.Topics {
		d, ok := details[t]
		if !ok {
			return nil, fmt.Errorf("topic %q: %w", t, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			if errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("topic %q: %w", t, d.Err)
			}
			return nil, d.Err
		}
		for p := range d.Partitions {
			tp := topicPartition{t, p}
			if !known[tp] && r.mine(tp) {
				fresh = append(fresh, tp)
			}
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	var listed kadm.ListedOffsets
	switch start.kind {
	case 0:
		listed, err = r.adm.ListStartOffsets(ctx, r.cfg.Topics...)
	case 1:
		listed, err = r.adm.ListEndOffsets(ctx, r.cfg.Topics...)
	default:
		listed, err = r.adm.ListOffsetsAfterMilli(ctx, start.at.UnixMilli(), r.cfg.Topics...)
	}
	if err != nil {
		return nil, err
	}
	out := make([]foundPartition, 0, len(fresh))
	for _, tp := range fresh {
		o, ok := listed.Lookup(tp.topic, tp.partition)
		if !ok {
			return nil, fmt.Errorf("no offset listed for %s", tp)
		}
		if o.Err != nil {
			return nil, fmt.Errorf("%s: %w", tp, o.Err)
		}
		out = append(out, foundPartition{tp: tp, start: o.Offset})
	}
	return out, nil
}

// take starts reading the partitions the discovery found: from the
// restored position if the snapshot has one, else from where discovery
// says.
func (r *kafkaReader[T]) take(found []foundPartition) {
	add := map[string]map[int32]kgo.Offset{}
	for _, f := range found {
		if _, dup := r.index[f.tp]; dup {
			continue
		}
		at := f.start
		if pos, ok := r.restored[f.tp]; ok {
			at = pos
			delete(r.restored, f.tp)
		}
		r.index[f.tp] = len(r.parts)
		r.parts = append(r.parts, f.tp)
		r.next = append(r.next, at)
		if add[f.tp.topic] == nil {
			add[f.tp.topic] = map[int32]kgo.Offset{}
		}
		add[f.tp.topic][f.tp.partition] = kgo.NewOffset().At(at)
	}
	r.cl.AddConsumePartitions(add)
}

// Read hands out the records fetched so far, never waiting for more.
func (r *kafkaReader[T]) Read(buf []pipeline.SourceItem[T], max int) ([]pipeline.SourceItem[T], bool, error) {
	if !r.started {
		r.start()
	}
	select {
	case found := <-r.found:
		r.take(found)
	case err := <-r.failed:
		return buf, false, fmt.Errorf("kafka source: %w", err)
	default:
	}
	if len(r.parts) == 0 {
		return buf, false, nil
	}
	if len(r.pending) == 0 {
		fetches := r.cl.PollRecords(nil, max) //nolint:staticcheck // a nil context polls without waiting
		if err := r.fetchErrors(fetches); err != nil {
			return buf, false, err
		}
		r.pending = fetches.Records()
	}
	n := 0
	for _, rec := range r.pending {
		if len(buf) >= max {
			break
		}
		n++
		i, ok := r.index[topicPartition{rec.Topic, rec.Partition}]
		if !ok || rec.Offset < r.next[i] {
			continue // not (or no longer) read here; or before the position
		}
		v, err := r.decode(rec)
		if err != nil {
			return buf, false, fmt.Errorf("kafka source: decode %s/%d offset %d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		buf = append(buf, pipeline.SourceItem[T]{V: v, Partition: i, TS: rec.Timestamp.UnixNano()})
		r.next[i] = rec.Offset + 1
	}
	clear(r.pending[:n])
	r.pending = r.pending[n:]
	return buf, false, nil
}

// fetchErrors fails on an error that would lose or repeat records (an
// offset out of range, data loss); a broker's being away is retried by the
// client, and logged.
func (r *kafkaReader[T]) fetchErrors(fetches kgo.Fetches) error {
	var fatal error
	fetches.EachError(func(topic string, partition int32, err error) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
		case kerr.IsRetriable(err) || isTransient(err):
			r.ctx.Logger.Debug("kafka source: fetch", "topic", topic, "partition", partition, "err", err)
		default:
			if fatal == nil {
				fatal = fmt.Errorf("kafka source: %s/%d: %w", topic, partition, err)
			}
		}
	})
	return fatal
}

// isTransient reports a network error: the broker is away, the client
// tries again.
func isTransient(err error) bool {
	var ne interface{ Timeout() bool }
	var eof *kgo.ErrFirstReadEOF
	return errors.As(err, &ne) || errors.As(err, &eof)
}

// Positions saves the next offset of every partition the instance reads,
// and the restored positions of its partitions it has not found again yet.
func (r *kafkaReader[T]) Positions() (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.parts)+len(r.restored))
	for tp, at := range r.restored {
		out[tp.String()] = strconv.AppendInt(nil, at, 10)
	}
	var offs kadm.Offsets
	if r.cfg.Group != "" {
		offs = kadm.Offsets{}
	}
	for i, tp := range r.parts {
		out[tp.String()] = strconv.AppendInt(nil, r.next[i], 10)
		if offs != nil {
			offs.Add(kadm.Offset{Topic: tp.topic, Partition: tp.partition, At: r.next[i], LeaderEpoch: -1})
		}
	}
	if len(offs) > 0 {
		select {
		case r.commits <- offs:
		default: // the last ones are being committed: these wait for the next snapshot
		}
	}
	return out, nil
}

// Seek takes the saved positions of the partitions this instance reads.
func (r *kafkaReader[T]) Seek(positions map[string][]byte) error {
	for name, pos := range positions {
		slash := strings.LastIndexByte(name, '/')
		if slash < 0 {
			return fmt.Errorf("kafka source: bad partition %q in the snapshot", name)
		}
		p, err := strconv.ParseInt(name[slash+1:], 10, 32)
		if err != nil {
			return fmt.Errorf("kafka source: bad partition %q in the snapshot", name)
		}
		at, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil {
			return fmt.Errorf("kafka source: bad position %q for %s", pos, name)
		}
		if tp := (topicPartition{name[:slash], int32(p)}); r.mine(tp) {
			r.restored[tp] = at
		}
	}
	return nil
}

func (r *kafkaReader[T]) Close() error {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
	r.cl.Close()
	return nil
}
