package dialog

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
)

// DispatchArgs hands queued dialogs out to free operators (someone came online, freed
// capacity or joined a department). Not unique: a run that started before the change
// might miss it, and runs are cheap and serialized by the assignment lock.
type DispatchArgs struct{}

func (DispatchArgs) Kind() string { return "dispatch_queue" }
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10}
}

// AutoCloseArgs is the periodic sweep closing idle dialogs.
type AutoCloseArgs struct{}

func (AutoCloseArgs) Kind() string { return "auto_close" }

// systemEntry writes a history entry and its notification.
func (s *Service) systemEntry(ctx context.Context, tx pgx.Tx, d store.Dialog, kind string, actor *int64, data map[string]any) error {
	m := store.Message{DialogID: d.ID, ChannelID: d.ChannelID, Direction: "system", Kind: kind, AuthorID: actor, Status: "received", Data: jsonRaw(data)}
	if _, err := store.InsertMessage(ctx, tx, &m); err != nil {
		return err
	}
	return push.Notify(ctx, tx, push.ForDialog("dialog.updated", d, m.ID))
}

// Assign applies auto-assignment to a new dialog, and the "operators offline" text.
// Under auto-assign it hands out the whole queue oldest first rather than this dialog
// alone: a slot freed a moment ago belongs to the dialog that has waited longest, not to
// whichever new dialog's job happens to run before the dispatch job.
func (s *Service) Assign(ctx context.Context, dialogID int64) error {
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.AssignLock(ctx, tx); err != nil {
			return err
		}
		d, err := store.LockDialog(ctx, tx, dialogID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || d.Status != "open" || d.AssigneeID != nil {
			return err
		}
		if st.AutoAssign {
			if err := s.dispatchTx(ctx, tx); err != nil {
				return err
			}
			if d, err = store.LockDialog(ctx, tx, dialogID); err != nil || d.AssigneeID != nil {
				return err
			}
		}
		online, err := store.AnyoneOnline(ctx, tx, d.DepartmentID)
		if err != nil || online || st.OfflineText == "" {
			return err
		}
		ok, err := store.MarkOfflineReplySent(ctx, tx, d.ID)
		if err != nil || !ok {
			return err
		}
		m, err := s.queueText(ctx, tx, d, nil, st.OfflineText, "operators_offline", nil)
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, []river.InsertManyParams{job(SendArgs{MessageID: m.ID})})
	})
}

// assignFree gives d to the best free operator, if any. Call under AssignLock.
func (s *Service) assignFree(ctx context.Context, tx pgx.Tx, d store.Dialog) (bool, error) {
	op, err := store.PickOperator(ctx, tx, d.DepartmentID)
	if err != nil || op == 0 {
		return false, err
	}
	if err := store.SetAssignee(ctx, tx, d.ID, &op); err != nil {
		return false, err
	}
	d.AssigneeID = &op
	return true, s.systemEntry(ctx, tx, d, "assigned", nil, map[string]any{"to": op, "auto": true})
}

// Dispatch hands the oldest queued dialogs to free operators until nobody eligible is free.
func (s *Service) Dispatch(ctx context.Context) error {
	// Fresh, not cached: this run may be the one requested by switching auto-assign on at
	// another instance a moment ago.
	st, err := s.loadSettings(ctx)
	if err != nil || !st.AutoAssign {
		return err
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.AssignLock(ctx, tx); err != nil {
			return err
		}
		return s.dispatchTx(ctx, tx)
	})
}

// dispatchBatch bounds one pass over the queue; a longer queue is worked through in
// further passes of the same transaction.
const dispatchBatch = 500

// dispatchTx walks the queue oldest first and assigns every dialog someone eligible can
// take. Call under AssignLock: nothing else changes assignments meanwhile, so a department
// found full stays full for the rest of the pass and its other dialogs are skipped.
func (s *Service) dispatchTx(ctx context.Context, tx pgx.Tx) error {
	// Only the queues of departments with someone free are read: a long queue elsewhere
	// costs nothing.
	deps, anyone, err := store.FreeDepartments(ctx, tx)
	if err != nil || !anyone {
		return err
	}
	full := map[int64]bool{} // department id (0: none) → nobody free
	var after store.QueueCursor
	for {
		queued, err := store.QueuedDialogs(ctx, tx, after, deps, true, dispatchBatch)
		if err != nil || len(queued) == 0 {
			return err
		}
		for _, q := range queued {
			after = q.Cursor
			key := int64(0)
			if q.DepartmentID != nil {
				key = *q.DepartmentID
			}
			if full[key] {
				continue
			}
			d, err := store.LockDialog(ctx, tx, q.ID)
			if err != nil {
				return err
			}
			if d.Status != "open" || d.AssigneeID != nil {
				continue
			}
			assigned, err := s.assignFree(ctx, tx, d)
			if err != nil {
				return err
			}
			if !assigned {
				full[key] = true
			}
		}
		if len(queued) < dispatchBatch {
			return nil
		}
	}
}

// RequestDispatch queues a dispatch run (outside any transaction).
func (s *Service) RequestDispatch(ctx context.Context) {
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		return s.enqueue(ctx, tx, []river.InsertManyParams{job(DispatchArgs{})})
	})
	if err != nil {
		s.Log.Error("request dispatch", "err", err)
	}
}

// mayTake is the one rule for an actor assigning a dialog to themselves (Take, or a
// Transfer to themselves): a queued dialog, or for admins anyone's.
func mayTake(a Actor, d store.Dialog) error {
	if d.AssigneeID != nil && *d.AssigneeID != a.ID && !a.Admin {
		return Errorf("conflict", "the dialog is already assigned to a colleague")
	}
	return nil
}

// Take assigns a queued (or anyone's, for admins) dialog to the actor.
func (s *Service) Take(ctx context.Context, a Actor, dialogID int64) error {
	return s.change(ctx, a, dialogID, func(tx pgx.Tx, d store.Dialog) error {
		if err := mayTake(a, d); err != nil {
			return err
		}
		if d.AssigneeID != nil && *d.AssigneeID == a.ID {
			return nil
		}
		if err := store.SetAssignee(ctx, tx, d.ID, &a.ID); err != nil {
			return err
		}
		d.AssigneeID = &a.ID
		return s.systemEntry(ctx, tx, d, "assigned", &a.ID, map[string]any{"to": a.ID, "taken": true})
	})
}

// Transfer moves a dialog to an operator or to a department's queue, with a comment.
func (s *Service) Transfer(ctx context.Context, a Actor, dialogID int64, toUser, toDepartment int64, comment string) error {
	if (toUser == 0) == (toDepartment == 0) {
		return Errorf("invalid", "transfer to exactly one of an operator or a department")
	}
	if len(comment) > 2000 {
		return Errorf("invalid", "the comment is longer than 2000 characters")
	}
	err := s.change(ctx, a, dialogID, func(tx pgx.Tx, d store.Dialog) error {
		if toUser != 0 {
			if toUser == a.ID {
				if err := mayTake(a, d); err != nil {
					return err
				}
			}
			u, err := store.UserByID(ctx, tx, toUser)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
				return Errorf("invalid", "no active operator %d", toUser)
			}
			if err != nil {
				return err
			}
			if err := store.SetAssignee(ctx, tx, d.ID, &toUser); err != nil {
				return err
			}
			from := d.AssigneeID
			d.AssigneeID = &toUser
			if err := s.systemEntry(ctx, tx, d, "transferred", &a.ID, map[string]any{"from": from, "to": toUser, "comment": comment}); err != nil {
				return err
			}
			return notifyFormer(ctx, tx, d, from)
		}
		if err := store.SetDepartment(ctx, tx, d.ID, &toDepartment); err != nil {
			if store.IsForeignKey(err) {
				return Errorf("invalid", "no department %d", toDepartment)
			}
			return err
		}
		from := d.AssigneeID
		d.AssigneeID, d.DepartmentID = nil, &toDepartment
		if err := s.systemEntry(ctx, tx, d, "transferred", &a.ID, map[string]any{"from": from, "to_department": toDepartment, "comment": comment}); err != nil {
			return err
		}
		return notifyFormer(ctx, tx, d, from)
	})
	if err == nil {
		s.RequestDispatch(ctx)
	}
	return err
}

// Invite adds a colleague to a dialog; Leave removes the actor (or, for admins, anyone).
func (s *Service) Invite(ctx context.Context, a Actor, dialogID, userID int64) error {
	return s.change(ctx, a, dialogID, func(tx pgx.Tx, d store.Dialog) error {
		u, err := store.UserByID(ctx, tx, userID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
			return Errorf("invalid", "no active operator %d", userID)
		}
		if err != nil {
			return err
		}
		added, err := store.AddParticipant(ctx, tx, d.ID, userID)
		if err != nil || !added {
			return err
		}
		d.Participants = append(d.Participants, userID)
		return s.systemEntry(ctx, tx, d, "invited", &a.ID, map[string]any{"user": userID})
	})
}

// Leave removes userID (the actor, unless an admin removes someone) from the participants.
func (s *Service) Leave(ctx context.Context, a Actor, dialogID, userID int64) error {
	if userID == 0 {
		userID = a.ID
	}
	if userID != a.ID && !a.Admin {
		return Errorf("forbidden", "you can only leave a dialog yourself")
	}
	return s.change(ctx, a, dialogID, func(tx pgx.Tx, d store.Dialog) error {
		removed, err := store.RemoveParticipant(ctx, tx, d.ID, userID)
		if err != nil {
			return err
		}
		if !removed {
			return Errorf("conflict", "operator %d is not a participant of this dialog", userID)
		}
		d.Participants = slices.DeleteFunc(d.Participants, func(p int64) bool { return p == userID })
		if err := s.systemEntry(ctx, tx, d, "left", &a.ID, map[string]any{"user": userID}); err != nil {
			return err
		}
		return notifyFormer(ctx, tx, d, &userID) // the one who left learns it too
	})
}

// Close closes a dialog (optionally sending the closing text).
func (s *Service) Close(ctx context.Context, a Actor, dialogID int64) error {
	err := s.change(ctx, a, dialogID, func(tx pgx.Tx, d store.Dialog) error {
		return s.closeTx(ctx, tx, d, &a.ID, false)
	})
	if err == nil {
		s.RequestDispatch(ctx)
	}
	return err
}

func (s *Service) closeTx(ctx context.Context, tx pgx.Tx, d store.Dialog, actor *int64, auto bool) error {
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	if st.ClosingText != "" {
		m, err := s.queueText(ctx, tx, d, nil, st.ClosingText, "closing", nil)
		if err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, []river.InsertManyParams{job(SendArgs{MessageID: m.ID})}); err != nil {
			return err
		}
	}
	closed, err := store.CloseDialog(ctx, tx, d.ID)
	if err != nil || !closed {
		return err
	}
	d.Status = "closed"
	return s.systemEntry(ctx, tx, d, "closed", actor, map[string]any{"auto": auto})
}

// notifyFormer tells the operator a dialog was taken from that it changed: the event built
// from the dialog's new state no longer reaches them.
func notifyFormer(ctx context.Context, tx pgx.Tx, d store.Dialog, former *int64) error {
	if former == nil || (d.AssigneeID != nil && *d.AssigneeID == *former) {
		return nil
	}
	ev := push.ForDialog("dialog.updated", d, 0)
	ev.UserID = *former
	return push.Notify(ctx, tx, ev)
}

// AutoClose closes dialogs idle longer than the setting allows.
func (s *Service) AutoClose(ctx context.Context) (int, error) {
	return s.AutoCloseAt(ctx, time.Now())
}

// AutoCloseAt closes the dialogs that are idle at the moment now (tests move the clock).
func (s *Service) AutoCloseAt(ctx context.Context, now time.Time) (int, error) {
	st, err := s.Settings(ctx)
	if err != nil || st.AutoCloseMinutes <= 0 {
		return 0, err
	}
	before := now.Add(-time.Duration(st.AutoCloseMinutes) * time.Minute)
	ids, err := store.IdleDialogs(ctx, s.Store.Pool, before, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		closed := false
		err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
			d, err := store.LockDialog(ctx, tx, id)
			// The visitor may have written between the scan and the lock: check again.
			if err != nil || d.Status != "open" || !d.LastActivityAt.Before(before) {
				return err
			}
			closed = true
			return s.closeTx(ctx, tx, d, nil, true)
		})
		if err != nil {
			return n, err
		}
		if closed {
			n++
		}
	}
	if n > 0 {
		s.RequestDispatch(ctx)
	}
	return n, nil
}

// ReturnToQueue puts every open dialog of an operator back in the queue, each with a
// system entry (the operator was deactivated). Call inside the transaction that changes
// the operator, then RequestDispatch after it commits.
func (s *Service) ReturnToQueue(ctx context.Context, tx pgx.Tx, userID, actorID int64, reason string) (int, error) {
	if err := store.AssignLock(ctx, tx); err != nil {
		return 0, err
	}
	ids, err := store.OpenDialogsOf(ctx, tx, userID)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		d, err := store.LockDialog(ctx, tx, id)
		if err != nil {
			return 0, err
		}
		if d.Status != "open" || d.AssigneeID == nil || *d.AssigneeID != userID {
			continue
		}
		if err := store.SetAssignee(ctx, tx, d.ID, nil); err != nil {
			return 0, err
		}
		d.AssigneeID = nil
		if err := s.systemEntry(ctx, tx, d, "requeued", &actorID, map[string]any{"from": userID, "reason": reason}); err != nil {
			return 0, err
		}
		if err := notifyFormer(ctx, tx, d, &userID); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// change runs fn on a locked, open dialog the actor may see.
func (s *Service) change(ctx context.Context, a Actor, dialogID int64, fn func(tx pgx.Tx, d store.Dialog) error) error {
	if err := s.authorize(ctx, a, dialogID); err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.AssignLock(ctx, tx); err != nil {
			return err
		}
		d, err := store.LockDialog(ctx, tx, dialogID)
		if errors.Is(err, store.ErrNotFound) {
			return Errorf("not_found", "dialog %d not found", dialogID)
		}
		if err != nil {
			return err
		}
		if d.Status != "open" {
			return Errorf("conflict", "the dialog is closed")
		}
		return fn(tx, d)
	})
}
