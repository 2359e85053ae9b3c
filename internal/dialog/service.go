// Package dialog is the dialog service: it stores what platforms send (Ingest), queues what
// operators answer (Send), and applies the base-logic rules. It knows nothing of HTTP.
package dialog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/blob"
	"github.com/omnichat/omnichat/internal/fetch"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/providers"
)

// Errorf builds a domain error (see apperr).
func Errorf(code, format string, args ...any) error { return apperr.New(code, format, args...) }

// Service is the dialog service.
type Service struct {
	Store     *store.Store
	Providers *providers.Registry
	Channels  Channels
	Blob      blob.Store
	Fetch     *fetch.Fetcher
	Log       *slog.Logger
	// PhoneRegion reads numbers written without a country code.
	PhoneRegion string
	// Uploads bounds widget visitors' uploads (zero: DefaultUploadLimits).
	Uploads UploadLimits
	queue   func(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) error

	mu          sync.Mutex
	settings    Settings
	settingsAt  time.Time
	settingsTTL time.Duration
	batch       *Batcher // group commit, created on first use (batch.go)
}

// New returns the service; SetQueue must be called before it ingests or sends.
func New(st *store.Store, reg *providers.Registry, log *slog.Logger) *Service {
	return &Service{Store: st, Providers: reg, Log: log, settingsTTL: 2 * time.Second}
}

// SetQueue connects the job queue (River is built after the service, since its workers use it).
func (s *Service) SetQueue(insert func(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) error) {
	s.queue = insert
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	if s.queue == nil {
		return errors.New("dialog: job queue not connected")
	}
	return s.queue(ctx, tx, jobs)
}

// Channels opens a channel with its secrets for a provider call.
type Channels interface {
	Live(ctx context.Context, id int64) (providers.Provider, providers.Channel, error)
}

func (s *Service) providerFor(ctx context.Context, channelID int64) (providers.Provider, providers.Channel, error) {
	if s.Channels == nil {
		return nil, providers.Channel{}, errors.New("dialog: channels not connected")
	}
	return s.Channels.Live(ctx, channelID)
}
