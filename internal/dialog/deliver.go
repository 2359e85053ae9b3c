package dialog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/push"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// SnoozeError asks the job queue to try again after a delay without counting a failure.
type SnoozeError struct{ After time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("retry after %s", e.After) }

// Deliver sends one pending message through its channel's provider. It returns nil when the
// message is settled (sent, or failed for good), a *SnoozeError for a platform's
// retry-after, or another error to be retried with backoff. lastAttempt marks the message
// failed instead of retrying again.
func (s *Service) Deliver(ctx context.Context, messageID int64, lastAttempt bool) error {
	m, err := store.MessageByID(ctx, s.Store.Pool, messageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Status != "pending" || m.Direction != "out" {
		return nil // sent already (a duplicate job), or the operator gave up on it
	}
	d, err := store.DialogByID(ctx, s.Store.Pool, m.DialogID)
	if err != nil {
		return err
	}
	p, ch, err := s.providerFor(ctx, d.ChannelID)
	if err != nil {
		// A deleted channel fails the message at once; a database hiccup is retried.
		var ae *apperr.Error
		if (errors.As(err, &ae) && ae.Code == apperr.NotFound) || lastAttempt {
			s.Log.Info("send: channel unavailable", "message", m.ID, "channel", d.ChannelID, "err", err)
			return s.fail(ctx, m, d, "the channel is gone or its settings cannot be read")
		}
		return fmt.Errorf("send message %d: open channel %d: %w", m.ID, d.ChannelID, err)
	}
	to := providers.Recipient{UserID: d.Visitor.ExternalID, ChatID: d.Visitor.ChatID}
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var sent providers.Sent
	if len(m.Attachments) > 0 && m.Attachments[0].FileID != 0 {
		sent, err = s.sendFile(callCtx, p, ch, to, m)
	} else {
		out := providers.OutMessage{ID: m.ID, Text: m.Text, ReplyTo: m.ReplyTo}
		if len(m.Buttons) > 0 {
			if err := json.Unmarshal(m.Buttons, &out.Buttons); err != nil {
				return s.fail(ctx, m, d, "the message's buttons cannot be read")
			}
		}
		sent, err = p.SendMessage(callCtx, ch, to, out)
	}
	if err == nil {
		return s.Store.Tx(ctx, func(tx pgx.Tx) error {
			if err := store.MarkSent(ctx, tx, m.ID, sent.ExternalID, sent.Parts); err != nil {
				return err
			}
			return push.Notify(ctx, tx, push.ForDialog("message.updated", d, m.ID))
		})
	}
	if n := len(sent.Parts); n > 0 || sent.ExternalID != "" {
		// The platform took the first parts of a long text before failing (the provider
		// reports them with the error). An automatic retry would send them again on a
		// platform without idempotency keys, so stop and let the operator decide.
		n = max(n, 1)
		why := providers.PermanentReason(err)
		if why == "" {
			why = "the platform failed on the next part"
		}
		s.Log.Info("send failed after some parts went out", "message", m.ID, "channel", ch.ID, "parts", n, "err", err)
		return s.fail(ctx, m, d, fmt.Sprintf("only the first %d part(s) of the text went out (%s); retrying sends the whole text again", n, why))
	}
	if providers.IsPermanent(err) {
		s.Log.Info("send failed permanently", "message", m.ID, "channel", ch.ID, "err", err)
		return s.fail(ctx, m, d, providers.PermanentReason(err))
	}
	if delay, ok := providers.RetryDelay(err); ok {
		if lastAttempt {
			return s.fail(ctx, m, d, "the platform kept asking to slow down; retry later")
		}
		return &SnoozeError{After: delay}
	}
	if lastAttempt {
		return s.fail(ctx, m, d, "the platform could not be reached after several attempts")
	}
	return fmt.Errorf("send message %d via %s: %w", m.ID, ch.Kind, err)
}

func (s *Service) sendFile(ctx context.Context, p providers.Provider, ch providers.Channel, to providers.Recipient, m store.Message) (providers.Sent, error) {
	a := m.Attachments[0]
	f, err := store.FileByID(ctx, s.Store.Pool, a.FileID)
	if err != nil {
		return providers.Sent{}, providers.Permanent("the file is gone", err)
	}
	out := providers.OutFile{ID: m.ID, Name: f.Name, MIME: f.MIME, Size: f.Size, Caption: m.Text,
		Open: func() (io.ReadCloser, error) { return s.Blob.Open(ctx, f.Key) }}
	// Platforms that fetch files by URL (Viber) get an expiring public link to it.
	if l, ok := s.Channels.(interface{ FileURL(int64, string) string }); ok {
		out.URL = l.FileURL(f.ID, f.Name)
	}
	return p.SendFile(ctx, ch, to, out)
}

func (s *Service) fail(ctx context.Context, m store.Message, d store.Dialog, reason string) error {
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.MarkFailed(ctx, tx, m.ID, reason); err != nil {
			return err
		}
		return push.Notify(ctx, tx, push.ForDialog("message.updated", d, m.ID))
	})
}
