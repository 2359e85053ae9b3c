package dialog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// Actor is who acts: an operator or admin.
type Actor struct {
	ID    int64
	Role  string
	Name  string
	Admin bool
}

// SendRequest is an operator's reply.
type SendRequest struct {
	Text           string
	Buttons        [][]providers.Button
	File           *store.File // already stored through blob
	IdempotencyKey string
}

// MaxTextLen bounds an operator's text (platforms split or refuse longer ones).
const MaxTextLen = 20000

// Dialog returns a dialog the actor may see.
func (s *Service) Dialog(ctx context.Context, a Actor, id int64) (store.Dialog, error) {
	d, err := store.DialogByID(ctx, s.Store.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, Errorf("not_found", "dialog %d not found", id)
	}
	if err != nil {
		return d, err
	}
	if err := s.authorize(ctx, a, d.ID); err != nil {
		return d, err
	}
	return d, nil
}

// authorize checks that the actor may see the dialog; a hidden dialog is "not found" so
// its existence does not leak.
func (s *Service) authorize(ctx context.Context, a Actor, dialogID int64) error {
	if a.Admin {
		return nil
	}
	ok, err := store.CanSee(ctx, s.Store.Pool, dialogID, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf("not_found", "dialog %d not found", dialogID)
	}
	if err != nil {
		return err
	}
	if !ok {
		return Errorf("not_found", "dialog %d not found", dialogID)
	}
	return nil
}

// Send stores an operator's reply as pending with its send job, in one transaction. A
// repeated request with the same idempotency key returns the first message.
func (s *Service) Send(ctx context.Context, a Actor, dialogID int64, req SendRequest) (store.Message, bool, error) {
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" && req.File == nil {
		return store.Message{}, false, Errorf("invalid", "text or file is required")
	}
	if !utf8.ValidString(req.Text) || len(req.Text) > MaxTextLen {
		return store.Message{}, false, Errorf("invalid", "text must be valid UTF-8 of at most %d bytes", MaxTextLen)
	}
	if len(req.IdempotencyKey) > 200 {
		return store.Message{}, false, Errorf("invalid", "Idempotency-Key is longer than 200 characters")
	}
	if err := checkButtonURLs(req.Buttons); err != nil {
		return store.Message{}, false, err
	}
	d, err := s.Dialog(ctx, a, dialogID)
	if err != nil {
		return store.Message{}, false, err
	}
	if req.IdempotencyKey != "" {
		if m, err := store.MessageByIdempotencyKey(ctx, s.Store.Pool, d.ID, req.IdempotencyKey); err == nil {
			return m, false, nil
		}
	}
	if d.Status != "open" {
		return store.Message{}, false, Errorf("conflict", "the dialog is closed: the visitor's next message opens a new one")
	}
	var m store.Message
	created := false
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		var key *string
		if req.IdempotencyKey != "" {
			key = &req.IdempotencyKey
		}
		author := a.ID
		var err error
		m, created, err = s.queueMessage(ctx, tx, d, &author, req, "", key)
		if err != nil || !created {
			return err
		}
		return s.enqueue(ctx, tx, []river.InsertManyParams{job(SendArgs{MessageID: m.ID})})
	})
	if err != nil {
		return m, false, err
	}
	if !created {
		m, err = store.MessageByIdempotencyKey(ctx, s.Store.Pool, d.ID, req.IdempotencyKey)
	}
	return m, created, err
}

// checkButtonURLs allows only absolute http(s) URLs with a host on URL buttons: a
// javascript: or data: link would run in the widget's origin or trick the visitor.
func checkButtonURLs(rows [][]providers.Button) error {
	for _, row := range rows {
		for _, b := range row {
			if b.URL != "" && !httpURL(b.URL) {
				return &apperr.Error{Code: apperr.Invalid, Fields: []string{"buttons"},
					Message: fmt.Sprintf("button %q: the URL must be an absolute http:// or https:// address", b.Text)}
			}
		}
	}
	return nil
}

// httpURL reports whether raw is an absolute http or https URL with a host, written
// without spaces or control characters.
func httpURL(raw string) bool {
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) >= 0 {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == ""
}

// queueText stores an automatic text as pending (the caller enqueues its send job).
func (s *Service) queueText(ctx context.Context, tx pgx.Tx, d store.Dialog, author *int64, text, rule string, key *string) (store.Message, error) {
	m, _, err := s.queueMessage(ctx, tx, d, author, SendRequest{Text: text}, rule, key)
	return m, err
}

func (s *Service) queueMessage(ctx context.Context, tx pgx.Tx, d store.Dialog, author *int64, req SendRequest, rule string, key *string) (store.Message, bool, error) {
	m := store.Message{DialogID: d.ID, ChannelID: d.ChannelID, Direction: "out", AuthorID: author, Text: req.Text,
		Status: "pending", IdempotencyKey: key, Auto: rule != ""}
	if rule != "" {
		m.Data = jsonRaw(map[string]string{"rule": rule})
	}
	if len(req.Buttons) > 0 {
		b, err := json.Marshal(req.Buttons)
		if err != nil {
			return m, false, fmt.Errorf("marshal buttons: %w", err)
		}
		m.Buttons = b
	}
	if req.File != nil {
		m.Kind = "file"
		m.Attachments = []store.Attachment{{Kind: kindOfMIME(req.File.MIME), Name: req.File.Name, MIME: req.File.MIME, Size: req.File.Size, FileID: req.File.ID}}
	}
	inserted, err := store.InsertMessage(ctx, tx, &m)
	if err != nil || !inserted {
		return m, false, err
	}
	preview := m.Text
	if preview == "" && req.File != nil {
		preview = req.File.Name
	}
	if rule != "" {
		err = store.TouchDialogAuto(ctx, tx, d.ID, preview, m.CreatedAt) // an automatic text reads nothing
	} else {
		err = store.TouchDialog(ctx, tx, d.ID, preview, false, m.CreatedAt)
	}
	if err != nil {
		return m, false, err
	}
	if err := push.Notify(ctx, tx, push.ForDialog("message.created", d, m.ID)); err != nil {
		return m, false, err
	}
	return m, true, nil
}

func kindOfMIME(mime string) string {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return string(providers.AttachImage)
	case strings.HasPrefix(mime, "video/"):
		return string(providers.AttachVideo)
	case strings.HasPrefix(mime, "audio/"):
		return string(providers.AttachAudio)
	}
	return string(providers.AttachFile)
}

// Retry puts a failed message back in the send queue.
func (s *Service) Retry(ctx context.Context, a Actor, dialogID, messageID int64) (store.Message, error) {
	m, err := s.ownMessage(ctx, a, dialogID, messageID)
	if err != nil {
		return m, err
	}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		ok, err := store.MarkPending(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf("conflict", "only a failed message can be retried")
		}
		ev, err := messageEvent(ctx, tx, "message.updated", dialogID, m.ID)
		if err != nil {
			return err
		}
		if err := push.Notify(ctx, tx, ev); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, []river.InsertManyParams{job(SendArgs{MessageID: m.ID})})
	})
	if err != nil {
		return m, err
	}
	return store.MessageByID(ctx, s.Store.Pool, m.ID)
}

func (s *Service) ownMessage(ctx context.Context, a Actor, dialogID, messageID int64) (store.Message, error) {
	if _, err := s.Dialog(ctx, a, dialogID); err != nil {
		return store.Message{}, err
	}
	m, err := store.MessageByID(ctx, s.Store.Pool, messageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.DialogID != dialogID) {
		return m, Errorf("not_found", "message %d not found in dialog %d", messageID, dialogID)
	}
	return m, err
}

// Delete deletes one of our sent messages on the platform.
func (s *Service) Delete(ctx context.Context, a Actor, dialogID, messageID int64) error {
	m, err := s.ownMessage(ctx, a, dialogID, messageID)
	if err != nil {
		return err
	}
	if m.Direction != "out" || m.ExternalID == nil || m.DeletedAt != nil {
		return Errorf("conflict", "only a sent operator message can be deleted")
	}
	if !a.Admin && (m.AuthorID == nil || *m.AuthorID != a.ID) {
		return Errorf("forbidden", "you can delete only your own messages")
	}
	d, err := store.DialogByID(ctx, s.Store.Pool, dialogID)
	if err != nil {
		return err
	}
	p, ch, err := s.providerFor(ctx, d.ChannelID)
	if err != nil {
		return err
	}
	// A long text went out as several platform messages: delete every part, the last
	// (m.ExternalID) first, so a refusal leaves the beginning rather than a headless tail.
	ids := []string{*m.ExternalID}
	if parts := store.SentParts(m); len(parts) > 1 {
		ids = ids[:0]
		for i := len(parts) - 1; i >= 0; i-- {
			ids = append(ids, parts[i])
		}
	}
	to := providers.Recipient{UserID: d.Visitor.ExternalID, ChatID: d.Visitor.ChatID}
	for _, id := range ids {
		if err = p.DeleteMessage(ctx, ch, to, id); err != nil {
			break
		}
	}
	switch {
	case errors.Is(err, providers.ErrUnsupported):
		return Errorf("unsupported", "%s does not let a bot delete messages", ch.Kind)
	case providers.IsPermanent(err):
		return Errorf("conflict", "the platform refused: %s", providers.PermanentReason(err))
	case err != nil:
		return fmt.Errorf("delete message on %s: %w", ch.Kind, err)
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.MarkDeleted(ctx, tx, m.ID); err != nil {
			return err
		}
		return push.Notify(ctx, tx, push.ForDialog("message.updated", d, m.ID))
	})
}
