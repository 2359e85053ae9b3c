package dialog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// Chan is what ingest needs to know about a channel.
type Chan struct {
	ID           int64
	Kind         string
	DepartmentID *int64
	// AnswersButtons: the provider wants button presses acknowledged (ButtonAnswerer).
	AnswersButtons bool
}

// errRace means a concurrent transaction stored the same platform message first; the whole
// ingest is retried, and the retry sees it as a duplicate.
var errRace = errors.New("concurrent duplicate")

// IngestResult tells what an ingest stored.
type IngestResult struct {
	Messages   int // new messages stored
	Duplicates int // platform retries recognised and skipped
}

// Ingest stores a webhook's events in one transaction, with the follow-up jobs and
// realtime notifications, before the webhook is answered. A platform retry of a stored
// message changes nothing. The events' strings are cleaned in place (cleanEvents).
func (s *Service) Ingest(ctx context.Context, ch Chan, evs []providers.Event) (IngestResult, error) {
	cleanEvents(evs)
	st, err := s.Settings(ctx)
	if err != nil {
		return IngestResult{}, err
	}
	for attempt := 0; ; attempt++ {
		var res IngestResult
		err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			res, err = s.ingestTx(ctx, tx, ch, st, evs)
			return err
		})
		if errors.Is(err, errRace) && attempt < 3 {
			continue
		}
		return res, err
	}
}

type ingestState struct {
	jobs  []river.InsertManyParams
	notes []push.Event
	res   IngestResult
}

func (s *Service) ingestTx(ctx context.Context, tx pgx.Tx, ch Chan, st Settings, evs []providers.Event) (IngestResult, error) {
	var is ingestState
	if err := s.ingestInto(ctx, tx, ch, st, evs, &is); err != nil {
		return is.res, err
	}
	if err := s.enqueue(ctx, tx, dedupeJobs(is.jobs)); err != nil {
		return is.res, fmt.Errorf("enqueue follow-up jobs: %w", err)
	}
	return is.res, push.Notify(ctx, tx, is.notes...)
}

// ingestInto stores evs in tx and adds their follow-up jobs and notifications to is; the
// caller enqueues and notifies (once per transaction: the group commit shares both). On
// error tx is unusable.
func (s *Service) ingestInto(ctx context.Context, tx pgx.Tx, ch Chan, st Settings, evs []providers.Event, is *ingestState) error {
	for i := range evs {
		ev := &evs[i]
		var err error
		switch ev.Kind {
		case providers.EventMessage, providers.EventButton:
			err = s.ingestMessage(ctx, tx, ch, st, ev, is)
		case providers.EventEdited:
			err = s.ingestEdit(ctx, tx, ch, ev, is)
		case providers.EventDelivered, providers.EventRead, providers.EventFailed:
			err = s.ingestReceipt(ctx, tx, ch, ev, is)
		case providers.EventSubscribed, providers.EventConversationStarted:
			var v store.Visitor
			if v, err = s.upsertVisitor(ctx, tx, ch, ev); err == nil {
				err = store.SetVisitorReachable(ctx, tx, ch.ID, ev.UserID, true)
				if v.Inserted {
					is.jobs = append(is.jobs, job(FetchUserInfoArgs{VisitorID: v.ID}))
				}
			}
		case providers.EventUnsubscribed:
			err = store.SetVisitorReachable(ctx, tx, ch.ID, ev.UserID, false)
		default:
			s.Log.Warn("ingest: unknown event kind", "kind", ev.Kind, "channel", ch.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) upsertVisitor(ctx context.Context, tx pgx.Tx, ch Chan, ev *providers.Event) (store.Visitor, error) {
	if ev.UserID == "" {
		return store.Visitor{}, fmt.Errorf("%s event without a user id: %w", ev.Kind, providers.ErrMalformed)
	}
	u := ev.User
	return store.UpsertVisitor(ctx, tx, store.VisitorUpsert{ChannelID: ch.ID, ExternalID: ev.UserID, ChatID: ev.ChatID,
		FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, Phone: NormalizePhone(u.Phone, s.PhoneRegion), Email: u.Email, Lang: u.Language})
}

// inMsg is one incoming message on its way through ingest: prepared, looked up (duplicate
// check, visitor, open dialog), inserted, followed up. The steps are separate so the group
// commit can pipeline each step over a whole batch (ingestMessagesPipelined).
type inMsg struct {
	ch          Chan
	ev          *providers.Event
	extID       *string
	sharedPhone bool
	upsert      store.VisitorUpsert
	found       store.IngestFound
	v           store.Visitor
	d           store.Dialog
	m           store.Message
	preview     string
	fetch       FetchAttachmentsArgs
	inserted    bool
}

// prepareMessage checks ev and computes what the lookup sends.
func (s *Service) prepareMessage(ch Chan, ev *providers.Event) (*inMsg, error) {
	if ev.UserID == "" {
		return nil, fmt.Errorf("%s event without a user id: %w", ev.Kind, providers.ErrMalformed)
	}
	mi := &inMsg{ch: ch, ev: ev}
	if ev.ExternalID != "" {
		id := ev.ExternalID
		if ev.Kind == providers.EventButton {
			id = "button:" + id
		}
		mi.extID = &id
	}
	// A phone shared by the visitor about themselves feeds the client base. ev is not
	// changed: a batch redone one webhook at a time must see the event as it came.
	u := ev.User
	for _, a := range ev.Attachments {
		if a.Kind == providers.AttachContact && a.OwnPhone && u.Phone == "" {
			u.Phone = a.Phone
			mi.sharedPhone = true
		}
	}
	mi.upsert = store.VisitorUpsert{ChannelID: ch.ID, ExternalID: ev.UserID, ChatID: ev.ChatID,
		FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, Phone: NormalizePhone(u.Phone, s.PhoneRegion), Email: u.Email, Lang: u.Language}
	return mi, nil
}

// buildMessage fills mi.m (and its preview and download job) once the dialog is known.
func (mi *inMsg) buildMessage() {
	ev := mi.ev
	m := store.Message{DialogID: mi.d.ID, ChannelID: mi.ch.ID, Direction: "in", ExternalID: mi.extID, Text: ev.Text, ReplyTo: ev.ReplyTo, CreatedAt: ev.Time}
	if m.CreatedAt.IsZero() || m.CreatedAt.After(time.Now().Add(time.Minute)) {
		m.CreatedAt = time.Now()
	}
	if ev.Kind == providers.EventButton {
		m.Kind = "button"
		if m.Text == "" {
			m.Text = ev.Payload
		}
		m.Data = jsonRaw(map[string]string{"payload": ev.Payload})
	}
	for _, a := range ev.Attachments {
		sa := store.Attachment{Kind: string(a.Kind), Name: a.Name, MIME: a.MIME, Size: a.Size, Lat: a.Lat, Lon: a.Lon, Phone: a.Phone, Contact: a.Contact}
		if a.URL != "" || a.Ref != "" {
			sa.Pending = true
		}
		m.Attachments = append(m.Attachments, sa)
		mi.fetch.Sources = append(mi.fetch.Sources, FileSource{URL: a.URL, Ref: a.Ref})
	}
	mi.preview = m.Text
	if mi.preview == "" && len(m.Attachments) > 0 {
		mi.preview = "[" + m.Attachments[0].Kind + "]"
	}
	mi.m = m
}

// mayNeedFirstContact: the follow-up of this message may run statements of its own (the
// first-contact text), so in a pipeline it must be the last message of its segment.
func (mi *inMsg) mayNeedFirstContact(st Settings) bool {
	return st.FirstContactText != "" && (mi.v.Inserted || mi.d.Created && !mi.v.FirstContactSent)
}

func (s *Service) ingestMessage(ctx context.Context, tx pgx.Tx, ch Chan, st Settings, ev *providers.Event, is *ingestState) error {
	mi, err := s.prepareMessage(ch, ev)
	if err != nil {
		return err
	}
	// One statement: the duplicate check, the visitor upsert and the open dialog (measured:
	// each round trip of the former five cost both sides more than the SQL itself).
	if mi.found, err = store.IngestLookup(ctx, tx, mi.upsert, deref(mi.extID)); err != nil {
		return err
	}
	if mi.found.Duplicate {
		is.res.Duplicates++
		return nil
	}
	mi.v = mi.found.Visitor
	if mi.found.Dialog != nil {
		mi.d = *mi.found.Dialog
	} else if mi.d, err = store.OpenDialog(ctx, tx, ch.ID, mi.v.ID, ch.DepartmentID); err != nil {
		return err
	}
	mi.buildMessage()
	// The insert touches the dialog (preview, time, unread) in the same statement.
	if mi.inserted, err = store.InsertInMessage(ctx, tx, &mi.m, mi.preview); err != nil {
		return err
	}
	return s.followMessage(ctx, tx, st, mi, is)
}

// followMessage queues the jobs and notifications of an inserted message and sends the
// first-contact text when it is the visitor's first.
func (s *Service) followMessage(ctx context.Context, tx pgx.Tx, st Settings, mi *inMsg, is *ingestState) error {
	if !mi.inserted {
		return errRace
	}
	is.res.Messages++
	ch, ev, v, d, m := mi.ch, mi.ev, mi.v, mi.d, &mi.m
	for _, a := range m.Attachments {
		if a.Pending {
			fetch := mi.fetch
			fetch.MessageID, fetch.ChannelID, fetch.Attachments = m.ID, ch.ID, m.Attachments
			is.jobs = append(is.jobs, job(fetch))
			break
		}
	}
	if v.Inserted || needsUserInfo(v, time.Now()) {
		is.jobs = append(is.jobs, job(FetchUserInfoArgs{VisitorID: v.ID}))
	}
	// A phone shared mid-dialog also reaches the client record auto-added at its start.
	// d.Created too: a visitor announced before their first message (subscribed,
	// conversation_started) is not inserted by it.
	if st.AutoAdd && (v.ClientID == nil && (v.Inserted || d.Created || v.Phone != "") || v.ClientID != nil && mi.sharedPhone) {
		is.jobs = append(is.jobs, job(LinkClientArgs{VisitorID: v.ID}))
	}
	if ev.Kind == providers.EventButton && ch.AnswersButtons {
		is.jobs = append(is.jobs, job(AnswerButtonArgs{ChannelID: ch.ID, EventID: ev.ExternalID, UserID: ev.UserID, ChatID: ev.ChatID, Payload: ev.Payload}))
	}
	if d.Created {
		is.notes = append(is.notes, push.ForDialog("dialog.created", d, m.ID))
		is.jobs = append(is.jobs, job(AssignArgs{DialogID: d.ID}))
	} else {
		is.notes = append(is.notes, push.ForDialog("message.created", d, m.ID))
	}
	firstContact := v.Inserted
	if !firstContact && d.Created && !v.FirstContactSent && st.FirstContactText != "" {
		// Announced before the first message: first contact unless an earlier dialog exists.
		earlier, err := store.VisitorHadDialogBefore(ctx, tx, v.ID, d.ID)
		if err != nil {
			return err
		}
		firstContact = !earlier
	}
	if firstContact && st.FirstContactText != "" {
		ok, err := store.MarkFirstContactSent(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if ok {
			auto, err := s.queueText(ctx, tx, d, nil, st.FirstContactText, "first_contact", nil)
			if err != nil {
				return err
			}
			is.jobs = append(is.jobs, job(SendArgs{MessageID: auto.ID})) // queueText notified it
		}
	}
	return nil
}

func (s *Service) ingestEdit(ctx context.Context, tx pgx.Tx, ch Chan, ev *providers.Event, is *ingestState) error {
	id, dialogID, changed, err := store.EditMessage(ctx, tx, ch.ID, ev.ExternalID, ev.Text, ev.Time)
	if errors.Is(err, store.ErrNotFound) {
		s.Log.Info("ingest: edit of an unknown message ignored", "channel", ch.ID)
		return nil
	}
	if err != nil || !changed {
		return err
	}
	note, err := messageEvent(ctx, tx, "message.updated", dialogID, id)
	if err != nil {
		return err
	}
	is.notes = append(is.notes, note)
	return nil
}

func (s *Service) ingestReceipt(ctx context.Context, tx pgx.Tx, ch Chan, ev *providers.Event, is *ingestState) error {
	status := map[providers.EventKind]string{providers.EventDelivered: "delivered", providers.EventRead: "read", providers.EventFailed: "failed"}[ev.Kind]
	var ups []store.ReceiptUpdate
	var err error
	if len(ev.Refs) > 0 {
		ups, err = store.ApplyReceipt(ctx, tx, ch.ID, ev.Refs, status, ev.Reason)
	} else if !ev.Watermark.IsZero() && ev.Kind != providers.EventFailed {
		ups, err = store.ApplyWatermark(ctx, tx, ch.ID, ev.UserID, ev.Watermark, status)
	}
	if err != nil {
		return err
	}
	for _, u := range ups {
		note, err := messageEvent(ctx, tx, "message.updated", u.DialogID, u.ID)
		if err != nil {
			return err
		}
		is.notes = append(is.notes, note)
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
