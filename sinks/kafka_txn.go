package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weir-dev/weir/dag"
)

// kafkaSlots is how many transactional IDs (and producers) an instance of
// an exactly-once Kafka sink uses: one transaction open, one prepared
// waiting for its snapshot to commit, usually; more only when commits
// lag behind barriers.
const kafkaSlots = 4

// kafkaSavedPrefix begins the snapshot keys of an exactly-once Kafka sink.
const kafkaSavedPrefix = "kafka-txns-"

// kafkaTxn is a prepared transaction: what committing it needs, without
// the producer that wrote it.
type kafkaTxn struct {
	ID       string `msgpack:"id"`
	Producer int64  `msgpack:"p"`
	Epoch    int16  `msgpack:"e"`
	Snap     uint64 `msgpack:"s"` // the snapshot whose barrier prepared it
	slot     int
}

// kafkaSaved is what an instance saves in a snapshot: its transactions
// prepared and not known to be committed.
type kafkaSaved struct {
	Index int        `msgpack:"i"` // the instance's dag.Context.GlobalIndex
	Total int        `msgpack:"n"` // dag.Context.TotalParallelism
	Txns  []kafkaTxn `msgpack:"t"`
}

// kafkaSlot is one transactional ID of an instance, with the producer
// using it (nil until needed, and after a commit that did not bump the
// producer's epoch).
type kafkaSlot struct {
	n    int
	id   string
	cl   *kgo.Client
	busy bool // its transaction is open or prepared
}

// kafkaTxns is the part of a Kafka sink's writer that does not depend on
// the item type: the client options and the transactions.
//
// A prepared transaction is committed after the snapshot that prepared it
// completes, while the next one is already open, so an instance needs two
// transactional IDs at least (Kafka allows one open transaction per ID);
// it keeps kafkaSlots. A slot is used again only after its transaction
// committed, and always under a new producer epoch: franz-go bumps it on
// every commit against brokers with transaction version 2 (KIP-890, Kafka
// 4); against older ones the slot's producer is replaced, whose
// InitProducerId bumps it. So a saved (producer ID, epoch) names one
// transaction for good, and committing it again later can never commit a
// later transaction of the same ID: the broker says the epoch is fenced,
// which means it was committed (only a restore, after committing, or the
// broker's transaction timeout aborts a prepared transaction).
type kafkaTxns struct {
	jobCtx  context.Context // ends with the job's execution on this member
	log     *slog.Logger
	index   int // dag.Context.GlobalIndex
	total   int // dag.Context.TotalParallelism
	opts    []kgo.Opt
	topic   string
	prefix  string
	timeout time.Duration

	failed atomic.Pointer[error] // the first record a producer failed to write

	begun    bool // settled: the restore's commits and fences are done
	slots    [kafkaSlots]kafkaSlot
	open     *kafkaSlot   // the slot whose transaction takes writes
	prepared []kafkaTxn   // prepared, not committed yet
	restored []kafkaSaved // the restored snapshot's, until settled
}

// err is a producer's first failure: records after it may be lost, so the
// job fails (and its writes are redone from its last snapshot).
func (x *kafkaTxns) err() error {
	if p := x.failed.Load(); p != nil {
		return fmt.Errorf("kafka sink: writing to %s: %w", x.topic, *p)
	}
	return nil
}

func (x *kafkaTxns) txnID(index, slot int) string {
	return x.prefix + "-" + strconv.Itoa(index) + "-" + strconv.Itoa(slot)
}

// openTxn returns the producer of the open transaction, beginning one on a
// free slot if none is open.
func (x *kafkaTxns) openTxn() (*kgo.Client, error) {
	if err := x.settle(); err != nil {
		return nil, err
	}
	if x.open != nil {
		return x.open.cl, nil
	}
	var s *kafkaSlot
	for i := range x.slots {
		if !x.slots[i].busy {
			s = &x.slots[i]
			break
		}
	}
	if s == nil {
		return nil, fmt.Errorf("kafka sink: %d transactions prepared and not committed: snapshots do not complete", kafkaSlots)
	}
	if s.cl == nil {
		s.id = x.txnID(x.index, s.n)
		cl, err := kgo.NewClient(append(x.opts, kgo.TransactionalID(s.id), kgo.TransactionTimeout(x.timeout))...)
		if err != nil {
			return nil, fmt.Errorf("kafka sink: %w", err)
		}
		s.cl = cl
	}
	if err := s.cl.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("kafka sink: begin transaction %s: %w", s.id, err)
	}
	s.busy, x.open = true, s
	return s.cl, nil
}

// prepare flushes the open transaction and saves, with the transactions
// prepared before and not committed yet, its producer ID and epoch.
func (x *kafkaTxns) prepare(s *dag.SnapshotWriter) error {
	saved, err := x.prepareSnap(s.ID())
	if err != nil {
		return err
	}
	return dag.SaveBroadcast(s, kafkaSavedPrefix+strconv.Itoa(x.index), saved)
}

// prepareSnap prepares the open transaction on snapshot snap's barrier
// and returns what the snapshot saves.
func (x *kafkaTxns) prepareSnap(snap uint64) (kafkaSaved, error) {
	if err := x.settle(); err != nil {
		return kafkaSaved{}, err
	}
	if err := x.flushOpen(snap); err != nil {
		return kafkaSaved{}, err
	}
	return kafkaSaved{Index: x.index, Total: x.total, Txns: x.prepared}, nil
}

// flushOpen prepares the open transaction, if any: its records are all
// written, and its producer ID and epoch noted.
func (x *kafkaTxns) flushOpen(snap uint64) error {
	o := x.open
	if o == nil {
		return nil
	}
	ctx := x.jobCtx
	if err := o.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka sink: flush transaction %s: %w", o.id, err)
	}
	if err := x.err(); err != nil {
		return err
	}
	id, epoch, err := o.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("kafka sink: producer of %s: %w", o.id, err)
	}
	x.prepared = append(x.prepared, kafkaTxn{ID: o.id, Producer: id, Epoch: epoch, Snap: snap, slot: o.n})
	x.open = nil
	return nil
}

// commit commits the transactions prepared up to snapshot id.
func (x *kafkaTxns) commit(id uint64) error {
	for len(x.prepared) > 0 && x.prepared[0].Snap <= id {
		if err := x.end(x.prepared[0]); err != nil {
			return err
		}
		x.prepared = x.prepared[1:]
	}
	return nil
}

// end commits a transaction its own producer prepared. If the producer
// cannot say it committed (the broker went away), the transaction is
// committed by its ID and epoch instead, waiting for the broker: the
// snapshot that covers it is complete, so it must commit.
func (x *kafkaTxns) end(t kafkaTxn) error {
	s := &x.slots[t.slot]
	ctx := x.jobCtx
	err := s.cl.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		if _, epoch, perr := s.cl.ProducerID(ctx); perr == nil && epoch != t.Epoch {
			s.busy = false
			return nil
		}
	} else {
		x.log.Warn("kafka sink: commit failed, committing by producer ID", "txn", t.ID, "err", err)
	}
	// The producer's epoch is the committed transaction's (a broker
	// before KIP-890), or its state is unknown: the slot gets a new
	// producer.
	s.cl.Close()
	s.cl = nil
	if err != nil {
		adm, cerr := kgo.NewClient(x.opts...)
		if cerr != nil {
			return fmt.Errorf("kafka sink: %w", cerr)
		}
		defer adm.Close()
		if err := x.resume(adm, t); err != nil {
			return err
		}
	}
	s.busy = false
	return nil
}

// settle starts the execution, once, before its first write: it commits
// the transactions the restored snapshot prepared (each old instance's by
// the new instance whose index it is congruent to, modulo the new
// instance count), then fences every transactional ID those old instances
// and this one use, which aborts what a failed execution left open after
// the snapshot (and stops a zombie predecessor still writing). A job that
// starts from the beginning fences its IDs too.
func (x *kafkaTxns) settle() error {
	if x.begun {
		return nil
	}
	x.begun = true
	me, total := x.index, x.total
	restored := x.restored
	x.restored = nil
	upto := total
	ids := map[string]bool{}
	var commits []kafkaTxn
	for _, sv := range restored {
		upto = max(upto, sv.Total)
		if sv.Index%total != me {
			continue
		}
		for _, t := range sv.Txns {
			commits = append(commits, t)
			ids[t.ID] = true
		}
	}
	for j := me; j < upto; j += total {
		for s := range kafkaSlots {
			ids[x.txnID(j, s)] = true
		}
	}
	for i := range x.slots {
		x.slots[i].n = i
	}
	adm, err := kgo.NewClient(x.opts...)
	if err != nil {
		return fmt.Errorf("kafka sink: %w", err)
	}
	defer adm.Close()
	for _, t := range commits {
		if err := x.resume(adm, t); err != nil {
			return err
		}
	}
	for id := range ids {
		if err := x.fence(adm, id); err != nil {
			return err
		}
	}
	return nil
}

// resume commits a prepared transaction by its transactional ID, producer
// ID and epoch, from any client: what Flink's KafkaSink does on recovery.
// An epoch the broker has moved past means the transaction ended already
// (see kafkaTxns).
func (x *kafkaTxns) resume(adm *kgo.Client, t kafkaTxn) error {
	return x.retry("commit "+t.ID, func(ctx context.Context) (bool, error) {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = t.ID, t.Producer, t.Epoch, true
		resp, err := req.RequestWith(ctx, adm)
		if err != nil {
			return true, err
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		switch {
		case err == nil:
			x.log.Debug("kafka sink: committed a restored transaction", "txn", t.ID, "epoch", t.Epoch)
			return false, nil
		case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
			errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.InvalidProducerIDMapping):
			x.log.Debug("kafka sink: a restored transaction was ended already", "txn", t.ID, "epoch", t.Epoch, "answer", err)
			return false, nil
		}
		return kerr.IsRetriable(err) || errors.Is(err, kerr.ConcurrentTransactions), err
	})
}

// fence makes a transactional ID's producer epoch new, aborting its open
// transaction, if any, and fencing the producers that used it.
func (x *kafkaTxns) fence(adm *kgo.Client, id string) error {
	return x.retry("fence "+id, func(ctx context.Context) (bool, error) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(x.timeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, adm)
		if err != nil {
			return true, err
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		return kerr.IsRetriable(err) || errors.Is(err, kerr.ConcurrentTransactions), err
	})
}

// retry runs fn until it succeeds, fails for good, or the job ends: while
// the brokers are away the job waits for them.
func (x *kafkaTxns) retry(what string, fn func(context.Context) (again bool, err error)) error {
	ctx := x.jobCtx
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		again, err := fn(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if !again || ctx.Err() != nil {
			return fmt.Errorf("kafka sink: %s: %w", what, err)
		}
		if attempt%20 == 0 {
			x.log.Warn("kafka sink: still trying", "what", what, "attempts", attempt, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("kafka sink: %s: %w", what, err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// close ends the execution's transactions: when the job completed, it
// commits them all, prepared or open; otherwise it aborts the open one and
// leaves the prepared ones to the restore (or the broker's timeout).
func (x *kafkaTxns) close() error {
	defer func() {
		for i := range x.slots {
			if cl := x.slots[i].cl; cl != nil {
				cl.Close()
			}
		}
	}()
	if x.jobCtx.Err() != nil {
		if o := x.open; o != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := o.cl.AbortBufferedRecords(ctx); err == nil {
				_ = o.cl.EndTransaction(ctx, kgo.TryAbort)
			}
		}
		return nil
	}
	if err := x.settle(); err != nil {
		return err
	}
	if err := x.flushOpen(0); err != nil { // snapshot 0: none; committed below
		return err
	}
	for _, t := range x.prepared {
		if err := x.end(t); err != nil {
			return err
		}
	}
	x.prepared = nil
	return nil
}
