package dialog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/providers"
)

// Group commit (DESIGN "Ingest", step 6). One transaction per webhook tops out near the
// PostgreSQL ceiling for that shape: every commit waits for its own WAL flush. Concurrent
// webhooks instead share one transaction: a committer takes what is queued (waiting up to
// Window for more), writes it all in one transaction, commits once, and only then answers
// each webhook. "Answered 200 ⇒ committed" and idempotency hold as for Ingest.
//
// Webhooks are sharded by visitor over Workers queues; each queue's committer is started on
// demand, waits Window for company, and exits when the queue is empty; batches also form by
// themselves as load rises: while a committer is busy with a commit, the next webhooks of its
// shard queue up and leave together.
//
// One bad message never fails its neighbours: the batch runs optimistically without
// savepoints (each costs two round trips); when any webhook in it fails, the batch is rolled
// back and each of its webhooks is ingested alone, so only the bad one gets an error. A failed
// COMMIT answers every waiter with an error (the platform retries; retries are idempotent).

// Batcher groups concurrent ingests into shared transactions.
type Batcher struct {
	s *Service
	// Window is how long a committer waits for more webhooks after taking the first.
	// Zero: take only what is already queued.
	Window time.Duration
	// MaxBatch caps the webhooks in one transaction.
	MaxBatch int
	// Workers is the number of shards, each with at most one committer (holding a pool
	// connection while it commits). Read on first use.
	Workers int
	// NotifyAfterCommit sends the batch's realtime notifications after the commit, in one
	// statement outside the transaction, instead of inside it. Measured: see
	// docs/performance.md.
	NotifyAfterCommit bool
	// Sequential stores a batch's messages one statement after another instead of
	// pipelining each step over the batch (ingestPipelined); kept for measuring.
	Sequential bool
	// Off sends every ingest straight to Service.Ingest: one transaction per webhook (the
	// simple path, kept for comparison by the load test).
	Off bool

	mu     sync.Mutex
	shards []*shard // Workers of them, made on first use

	batches, items, fallbacks atomic.Int64
}

// shard is one committer's queue; at most one committer runs per shard.
type shard struct {
	mu     sync.Mutex
	queue  []*pendingIngest
	active bool
}

type pendingIngest struct {
	ctx  context.Context
	ch   Chan
	evs  []providers.Event
	res  IngestResult
	err  error
	done chan struct{}
}

// BatchStats counts what the batcher did (benchmarks and tests read it).
type BatchStats struct {
	Batches   int64 // transactions committed or attempted
	Items     int64 // webhooks they carried
	Fallbacks int64 // batches rolled back and redone one webhook at a time
}

// DefaultWindow is the committers' default wait for more webhooks. Measured on the 2-core
// machine (docs/performance.md, Set 7), alternated with no window: at 1,000/s a transaction
// carries 2.0 webhooks instead of 1.2, the whole-run webhook p99 fell in 4 of 4 pairs (27–66
// vs 34–137 ms) and CPU a webhook by ≈10%, for ≈2 ms more at p50; at 5,000/s offered it
// took 3,532–3,667/s instead of 2,843–3,122/s. Without a window every webhook paid a
// transaction of its own (BEGIN, COMMIT and its WAL flush) at moderate rates.
const DefaultWindow = time.Millisecond

// NewBatcher returns a batcher for s with the defaults measured on the 2-core machine: one
// shard per core (2 shards beat 1, 4 and 8 there in throughput and in CPU a message: fewer,
// larger transactions), a window of DefaultWindow, 128 at most.
func NewBatcher(s *Service) *Batcher {
	return &Batcher{s: s, Window: DefaultWindow, MaxBatch: 128, Workers: max(2, runtime.GOMAXPROCS(0))}
}

// Stats returns the counters so far.
func (b *Batcher) Stats() BatchStats {
	return BatchStats{Batches: b.batches.Load(), Items: b.items.Load(), Fallbacks: b.fallbacks.Load()}
}

// Batcher returns the service's batcher, created on first use.
func (s *Service) Batcher() *Batcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == nil {
		s.batch = NewBatcher(s)
	}
	return s.batch
}

// IngestGrouped is Ingest through the service's group-commit batcher.
func (s *Service) IngestGrouped(ctx context.Context, ch Chan, evs []providers.Event) (IngestResult, error) {
	return s.Batcher().Ingest(ctx, ch, evs)
}

// Ingest stores evs like Service.Ingest, sharing the transaction with concurrent callers. It
// returns after the commit that made them durable (or with the error that prevented it).
func (b *Batcher) Ingest(ctx context.Context, ch Chan, evs []providers.Event) (IngestResult, error) {
	cleanEvents(evs) // before the batch shares them (Service.Ingest's clean is then a no-op)
	if b.Off {
		return b.s.Ingest(ctx, ch, evs)
	}
	p := &pendingIngest{ctx: ctx, ch: ch, evs: evs, done: make(chan struct{})}
	sh := b.shardFor(ch, evs)
	sh.mu.Lock()
	sh.queue = append(sh.queue, p)
	if !sh.active {
		sh.active = true
		go b.commitLoop(sh)
	}
	sh.mu.Unlock()
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		// The webhook is answered with an error; the batch may still commit it, which the
		// platform's retry will see as a duplicate.
		return IngestResult{}, ctx.Err()
	}
}

// shardFor picks the visitor's shard. One visitor's webhooks always share a committer:
// measured, batches on different committers that touched the same visitor waited on each
// other's row locks until the commit, which serialised them.
func (b *Batcher) shardFor(ch Chan, evs []providers.Event) *shard {
	b.mu.Lock()
	if b.shards == nil {
		b.shards = make([]*shard, max(b.Workers, 1))
		for i := range b.shards {
			b.shards[i] = &shard{}
		}
	}
	shards := b.shards
	b.mu.Unlock()
	h := fnv.New32a()
	fmt.Fprintf(h, "%d\x00%s", ch.ID, firstUser(evs))
	return shards[h.Sum32()%uint32(len(shards))]
}

// take removes up to n queued ingests of sh.
func (sh *shard) take(n int) []*pendingIngest {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n = min(n, len(sh.queue))
	out := slices.Clone(sh.queue[:n])
	sh.queue = sh.queue[n:]
	if len(sh.queue) == 0 {
		sh.queue = nil // let the backing array go
	}
	return out
}

// commitLoop commits sh's queue batch by batch and exits when it is empty.
func (b *Batcher) commitLoop(sh *shard) {
	maxBatch := max(b.MaxBatch, 1)
	for {
		batch := sh.take(maxBatch)
		if len(batch) == 0 {
			sh.mu.Lock()
			if len(sh.queue) == 0 {
				sh.active = false
				sh.mu.Unlock()
				return
			}
			sh.mu.Unlock()
			continue
		}
		if b.Window > 0 && len(batch) < maxBatch {
			time.Sleep(b.Window)
			batch = append(batch, sh.take(maxBatch-len(batch))...)
		}
		b.commit(batch)
	}
}

// commit writes batch in one transaction and answers every waiter.
func (b *Batcher) commit(batch []*pendingIngest) {
	b.batches.Add(1)
	b.items.Add(int64(len(batch)))
	// Whatever arrives is answered; a waiter whose context ended has gone already.
	defer func() {
		for _, p := range batch {
			close(p.done)
		}
	}()
	// The webhook handler's context has no cancel and a 30s timeout; the batch gets its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := b.s.Settings(ctx)
	if err != nil {
		for _, p := range batch {
			p.err = err
		}
		return
	}
	// Rows are locked in one order (channel, visitor) in every batch, so two committers
	// never deadlock on each other's visitors and dialogs. The sort is stable: one visitor's
	// messages keep their arrival order.
	ordered := slices.Clone(batch)
	slices.SortStableFunc(ordered, func(x, y *pendingIngest) int {
		return cmp.Or(cmp.Compare(x.ch.ID, y.ch.ID), cmp.Compare(firstUser(x.evs), firstUser(y.evs)))
	})

	var notes []push.Event
	var jobs []river.InsertManyParams
	var itemErr error
	// The transaction is handled on a connection of our own so that BEGIN travels with the
	// first pipeline and pg_notify with COMMIT (finish): at 1,000/s a transaction carries
	// only 1.2–1.4 webhooks, and these two round trips cost more than its messages.
	conn, err := b.s.Store.Pool.Acquire(ctx)
	if err != nil {
		for _, p := range batch {
			p.err = fmt.Errorf("group commit: acquire: %w", err)
		}
		return
	}
	// Release destroys the connection if it is still inside a transaction (a failed
	// rollback): it never goes back to the pool mid-transaction.
	released := false
	release := func() {
		if !released {
			released = true
			conn.Release()
		}
	}
	defer release()
	var tx pgx.Tx
	states := make([]ingestState, len(ordered))
	if !b.Sequential && allMessages(ordered) {
		tx, itemErr = b.s.ingestPipelined(ctx, conn.Conn(), st, ordered, states)
	} else {
		if tx, err = conn.Begin(ctx); err != nil {
			for _, p := range batch {
				p.err = fmt.Errorf("group commit: begin: %w", err)
			}
			return
		}
		for i, p := range ordered {
			if itemErr = b.s.ingestInto(ctx, tx, p.ch, st, p.evs, &states[i]); itemErr != nil {
				break
			}
		}
	}
	if itemErr == nil {
		for i, p := range ordered {
			p.res = states[i].res
			notes = append(notes, states[i].notes...)
			jobs = append(jobs, states[i].jobs...)
		}
	}
	if itemErr == nil {
		// One insert for every follow-up job of the batch.
		if err := b.s.enqueue(ctx, tx, dedupeJobs(jobs)); err != nil {
			itemErr = fmt.Errorf("enqueue follow-up jobs: %w", err)
		}
	}
	redoAlone := func() {
		// One webhook spoiled the transaction: redo each alone, so only the bad one fails.
		if tx != nil {
			_ = tx.Rollback(ctx)
		}
		release()
		b.fallbacks.Add(1)
		for _, p := range batch {
			p.res, p.err = b.s.Ingest(p.ctx, p.ch, p.evs)
		}
	}
	if itemErr != nil {
		redoAlone()
		return
	}
	var inTx []push.Event
	if !b.NotifyAfterCommit {
		inTx = notes
	}
	if err := finish(ctx, conn.Conn(), inTx); err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' && !conn.Conn().IsClosed() {
			// The notification failed before COMMIT ran: treat it as the batch's error.
			redoAlone()
			return
		}
		for _, p := range batch {
			p.res, p.err = IngestResult{}, fmt.Errorf("group commit: %w", err)
		}
		return
	}
	release()
	if len(notes) > 0 && b.NotifyAfterCommit {
		// A notification is a hint: the data is committed, and a client that misses it
		// refetches on reconnect. A failure is logged, not reported to the platform.
		if err := push.Notify(ctx, b.s.Store.Pool, notes...); err != nil {
			b.s.Log.Warn("group commit: notify after commit", "err", err)
		}
	}
}

// finish sends the batch's notifications and COMMIT in one round trip on conn, whose
// transaction is then over (the pgx.Tx that began it is left unused: COMMIT went around it).
// A COMMIT of an aborted transaction answers ROLLBACK, which is an error here.
func finish(ctx context.Context, conn *pgx.Conn, notes []push.Event) error {
	var fin pgx.Batch
	if err := push.Notify(ctx, queueOnly{&fin}, notes...); err != nil {
		return err
	}
	fin.Queue("commit").Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err := conn.SendBatch(ctx, &fin).Close(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// queueOnly is a store.DB whose Exec queues the statement on a batch (its result is checked
// when the batch is closed); it lets push.Notify's statement travel with COMMIT.
type queueOnly struct{ b *pgx.Batch }

func (q queueOnly) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (q queueOnly) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("queueOnly: only Exec")
}

func (q queueOnly) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return errRow{errors.New("queueOnly: only Exec")}
}

func (q queueOnly) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	return pgx.FailedBatchResults(b, errors.New("queueOnly: only Exec"))
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func firstUser(evs []providers.Event) string {
	if len(evs) == 0 {
		return ""
	}
	return evs[0].UserID
}

// dedupeJobs drops repeated jobs (same kind and arguments): two messages of one new visitor
// in one transaction both ask for its user info, and River's unique insert refuses to touch
// one row twice in one statement ("ON CONFLICT DO UPDATE command cannot affect row a second
// time"), which failed the whole transaction.
func dedupeJobs(jobs []river.InsertManyParams) []river.InsertManyParams {
	if len(jobs) < 2 {
		return jobs
	}
	seen := make(map[string]bool, len(jobs))
	out := jobs[:0:0]
	for _, j := range jobs {
		args, err := json.Marshal(j.Args)
		key := j.Args.Kind() + "\x00" + string(args)
		if err == nil && seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, j)
	}
	return out
}
