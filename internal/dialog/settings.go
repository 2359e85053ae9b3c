package dialog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/store"
)

// Settings are the base-logic settings (SPEC §4), stored under one key.
type Settings struct {
	AutoAdd          bool   `json:"auto_add"`
	RecordType       string `json:"record_type"` // client or contact
	AutoAssign       bool   `json:"auto_assign"`
	AutoCloseMinutes int    `json:"auto_close_minutes"` // 0 = off
	FirstContactText string `json:"first_contact_text"`
	OfflineText      string `json:"offline_text"`
	ClosingText      string `json:"closing_text"`
	DefaultCapacity  int    `json:"default_capacity"`
}

const settingsKey = "base_logic"

// DefaultSettings are used until an admin saves others.
func DefaultSettings() Settings {
	return Settings{RecordType: "client", AutoAssign: true, DefaultCapacity: 10}
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	s.RecordType = strings.TrimSpace(s.RecordType)
	if s.RecordType == "" {
		s.RecordType = "client"
	}
	if s.RecordType != "client" && s.RecordType != "contact" {
		return Errorf("invalid", "record_type must be client or contact")
	}
	if s.AutoCloseMinutes < 0 || s.AutoCloseMinutes > 60*24*365 {
		return Errorf("invalid", "auto_close_minutes must be between 0 (off) and 525600")
	}
	if s.DefaultCapacity < 0 || s.DefaultCapacity > 1000 {
		return Errorf("invalid", "default_capacity must be between 0 and 1000")
	}
	for name, t := range map[string]string{"first_contact_text": s.FirstContactText, "offline_text": s.OfflineText, "closing_text": s.ClosingText} {
		if len(t) > 4000 {
			return Errorf("invalid", "%s is longer than 4000 characters", name)
		}
	}
	return nil
}

// Settings returns the current settings (cached for a moment: they are read on every
// ingest, and a change from another instance shows up within the TTL).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	s.mu.Lock()
	if !s.settingsAt.IsZero() && time.Since(s.settingsAt) < s.settingsTTL {
		defer s.mu.Unlock()
		return s.settings, nil
	}
	s.mu.Unlock()
	return s.loadSettings(ctx)
}

// loadSettings reads the settings from the database, bypassing (and refreshing) the cache:
// for rare decisions that must not act on another instance's stale view.
func (s *Service) loadSettings(ctx context.Context) (Settings, error) {
	st := DefaultSettings()
	if err := store.GetSetting(ctx, s.Store.Pool, settingsKey, &st); err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("load settings: %w", err)
	}
	s.mu.Lock()
	s.settings, s.settingsAt = st, time.Now()
	s.mu.Unlock()
	return st, nil
}

// PutSettings validates and stores settings.
func (s *Service) PutSettings(ctx context.Context, actorID int64, st Settings) (Settings, error) {
	if err := st.Validate(); err != nil {
		return st, err
	}
	err := s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.PutSetting(ctx, tx, settingsKey, st); err != nil {
			return err
		}
		return store.Audit(ctx, tx, actorID, "settings.update", "settings", 0, st)
	})
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	s.settings, s.settingsAt = st, time.Now()
	s.mu.Unlock()
	if st.AutoAssign {
		// Auto-assign may have just been switched on: hand out what waits.
		s.RequestDispatch(ctx)
	}
	return st, nil
}
