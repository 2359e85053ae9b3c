package dialog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// Pipelined group commit. Even in a shared transaction, storing messages one after another
// costs a round trip per statement; measured (docs/performance.md), those round trips — a
// socket write, a read and goroutine wake-ups on our side, a statement execution on
// PostgreSQL's — were the largest share of the CPU a message. When a batch holds only
// incoming messages (the common case), each step is sent for the whole batch at once as one
// pgx.Batch: every message's lookup (duplicate check, visitor upsert, open dialog) in one
// round trip, then every insert (with its dialog touch) in another. What the steps store is
// what ingestMessage stores message by message, in the same order.

// allMessages reports whether every event of the batch is an incoming message or button.
func allMessages(batch []*pendingIngest) bool {
	for _, p := range batch {
		for i := range p.evs {
			if k := p.evs[i].Kind; k != providers.EventMessage && k != providers.EventButton {
				return false
			}
		}
	}
	return true
}

// ingestPipelined begins a transaction on conn (BEGIN travels with the first pipeline) and
// stores the messages of ordered (all messages: allMessages) in it, each item's results,
// jobs and notifications going to states[i]. It returns the transaction, also on error
// (then it is unusable but for Rollback); it is nil when nothing was sent.
func (s *Service) ingestPipelined(ctx context.Context, conn *pgx.Conn, st Settings, ordered []*pendingIngest, states []ingestState) (pgx.Tx, error) {
	type item struct {
		mi *inMsg
		is *ingestState
	}
	var msgs []item
	for i, p := range ordered {
		for j := range p.evs {
			mi, err := s.prepareMessage(p.ch, &p.evs[j])
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, item{mi, &states[i]})
		}
	}

	// 1. Every lookup in one round trip. They run in order, so a visitor's second message
	// sees the visitor its first one inserted (Inserted is false for it) but not the dialog
	// step 2 opens for it.
	var lookups pgx.Batch
	lookups.BeginTx(pgx.TxOptions{})
	for _, it := range msgs {
		store.QueueIngestLookup(&lookups, it.mi.upsert, deref(it.mi.extID), &it.mi.found)
	}
	br := conn.SendBatch(ctx, &lookups)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		return tx, fmt.Errorf("ingest lookups: %w", err)
	}

	// 2. Open the dialogs that do not exist yet (a visitor's first message), all in one
	// round trip; one a concurrent transaction opened meanwhile is read by OpenDialog.
	type newDialog struct {
		d       store.Dialog
		created bool
	}
	opened := map[int64]*newDialog{}
	var creates pgx.Batch
	live := msgs[:0:0]
	for _, it := range msgs {
		mi := it.mi
		if mi.found.Duplicate {
			it.is.res.Duplicates++
			continue
		}
		mi.v = mi.found.Visitor
		if mi.found.Dialog == nil && opened[mi.v.ID] == nil {
			nd := &newDialog{}
			opened[mi.v.ID] = nd
			store.QueueCreateDialog(&creates, mi.ch.ID, mi.v.ID, mi.ch.DepartmentID, &nd.d, &nd.created)
		}
		live = append(live, it)
	}
	if creates.Len() > 0 {
		if err := tx.SendBatch(ctx, &creates).Close(); err != nil {
			return tx, fmt.Errorf("open dialogs: %w", err)
		}
	}
	first := map[int64]bool{} // visitors whose first message of the batch has been seen
	for _, it := range live {
		mi := it.mi
		if nd := opened[mi.v.ID]; mi.found.Dialog == nil && nd != nil {
			if !nd.created {
				var err error
				if nd.d, err = store.OpenDialog(ctx, tx, mi.ch.ID, mi.v.ID, mi.ch.DepartmentID); err != nil {
					return tx, err
				}
				nd.created = true // read now: later messages reuse it
			}
			mi.d = nd.d
			if first[mi.v.ID] {
				mi.d.Created = false // opened for an earlier message of this batch
			}
		} else if mi.found.Dialog != nil {
			mi.d = *mi.found.Dialog
		}
		first[mi.v.ID] = true
		mi.buildMessage()
	}

	// 3. The inserts, pipelined up to a message that may send a first-contact text: that
	// text is inserted right after its message, as ingestMessage does, before the next ones.
	for len(live) > 0 {
		var inserts pgx.Batch
		n := 0
		for n < len(live) {
			mi := live[n].mi
			store.QueueInsertInMessage(&inserts, &mi.m, mi.preview, &mi.inserted)
			n++
			if mi.mayNeedFirstContact(st) {
				break
			}
		}
		if err := tx.SendBatch(ctx, &inserts).Close(); err != nil {
			return tx, fmt.Errorf("insert messages: %w", err)
		}
		for _, it := range live[:n] {
			if err := s.followMessage(ctx, tx, st, it.mi, it.is); err != nil {
				return tx, err
			}
		}
		live = live[n:]
	}
	return tx, nil
}
