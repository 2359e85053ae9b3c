package dialog

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/store"
)

// UploadLimits bound what anonymous widget visitors may store. The budgets are counted in
// PostgreSQL, so every instance draws on the same ones.
type UploadLimits struct {
	PerAddress int64         // bytes per Window from one client address (an IPv6 /64)
	PerChannel int64         // bytes per Window to one channel
	Window     time.Duration // fixed window of both budgets
	MaxAge     time.Duration // an upload not sent with a message is removed after this
}

// DefaultUploadLimits are the configuration's defaults (for a Service built without it).
var DefaultUploadLimits = UploadLimits{PerAddress: 100 << 20, PerChannel: 2 << 30, Window: time.Hour, MaxAge: 15 * time.Minute}

func (s *Service) uploadLimits() UploadLimits {
	if s.Uploads == (UploadLimits{}) {
		return DefaultUploadLimits
	}
	return s.Uploads
}

// StoreUpload keeps a widget visitor's file of size bytes (as the request declared it) for
// the message that will name it, within the address's and the channel's byte budgets: both
// are charged before the file is stored (over either: RateLimited with RetryAfter), then
// corrected to the bytes actually stored. It returns the blob key and the stored size;
// blob.ErrTooLarge when src holds more than max.
func (s *Service) StoreUpload(ctx context.Context, channelID int64, addr string, size int64, src io.Reader, max int64) (string, int64, error) {
	charges, err := s.chargeUpload(ctx, channelID, addr, size)
	if err != nil {
		return "", 0, err
	}
	key, stored, err := s.Blob.Put(ctx, src, max)
	if err != nil {
		s.adjustUploadCharges(ctx, charges, -size)
		return "", 0, err
	}
	if stored != size {
		s.adjustUploadCharges(ctx, charges, stored-size)
	}
	// Recorded so the pruning job removes it if it is never sent with a message.
	if err := store.AddWidgetUpload(ctx, s.Store.Pool, key, channelID); err != nil {
		_ = s.Blob.Delete(context.WithoutCancel(ctx), key)
		s.adjustUploadCharges(ctx, charges, -stored)
		return "", 0, err
	}
	return key, stored, nil
}

// chargeUpload charges size bytes to the address's and the channel's budgets, both or
// neither.
func (s *Service) chargeUpload(ctx context.Context, channelID int64, addr string, size int64) ([]store.UploadCharge, error) {
	lim := s.uploadLimits()
	var charges []store.UploadCharge
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		for _, b := range []struct {
			scope, key string
			limit      int64
			refusal    string
		}{
			{"address", addressKey(addr), lim.PerAddress, "too many files were uploaded from your address; try again later"},
			{"channel", fmt.Sprint(channelID), lim.PerChannel, "this chat has received too many files; try again later"},
		} {
			c, ok, retry, err := store.ChargeUploadBudget(ctx, tx, b.scope, b.key, lim.Window, size, b.limit)
			if err != nil {
				return err
			}
			if !ok {
				return &apperr.Error{Code: apperr.RateLimited, Message: b.refusal, RetryAfter: max(retry, time.Second)}
			}
			charges = append(charges, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return charges, nil
}

// adjustUploadCharges corrects the charges by delta bytes; a failure only costs the
// visitor budget, so it is logged, not returned.
func (s *Service) adjustUploadCharges(ctx context.Context, charges []store.UploadCharge, delta int64) {
	for _, c := range charges {
		if err := store.AdjustUploadBudget(context.WithoutCancel(ctx), s.Store.Pool, c, delta); err != nil {
			s.Log.Warn("widget upload budget: correct a charge", "scope", c.Scope, "err", err)
		}
	}
}

// addressKey is the budget key of a client address: an IPv6 client usually holds a whole
// /64, so that is counted as one address.
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// PruneUploads removes widget uploads older than older that no message needs (a visitor
// attached a file and never sent it, or the download gave up): the blob first, then its
// row, so a failure leaves the row to be tried again at the next run. It returns how many
// were removed.
func (s *Service) PruneUploads(ctx context.Context, older time.Duration) (int, error) {
	n := 0
	for {
		refs, err := store.StaleWidgetUploads(ctx, s.Store.Pool, older, 500)
		if err != nil {
			return n, err
		}
		for _, ref := range refs {
			if err := s.Blob.Delete(ctx, ref); err != nil {
				return n, fmt.Errorf("prune upload %s: %w", ref, err)
			}
			if err := store.DeleteWidgetUpload(ctx, s.Store.Pool, ref); err != nil {
				return n, err
			}
			n++
		}
		if len(refs) < 500 {
			return n, nil
		}
	}
}

// PruneUnsentUploads is the periodic job's work: uploads older than the maximum age, and
// the budget counters of past windows.
func (s *Service) PruneUnsentUploads(ctx context.Context) (int, error) {
	lim := s.uploadLimits()
	n, err := s.PruneUploads(ctx, lim.MaxAge)
	if err != nil {
		return n, err
	}
	return n, store.PruneUploadBudgets(ctx, s.Store.Pool, 2*lim.Window)
}
