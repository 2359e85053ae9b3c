package channel

import (
	"context"
	"errors"
	"fmt"

	"github.com/omnichat/omnichat/internal/store"
)

// ErrKeyMismatch is why an instance refuses to start: its key ring cannot open what the
// database holds. The text is the one line an operator sees.
var ErrKeyMismatch = errors.New("OMNICHAT_SECRET_KEY does not open this database's channel secrets: " +
	"give every instance on the database the same OMNICHAT_SECRET_KEY (the first instance's key; " +
	"a generated one is in its OMNICHAT_DATA_DIR/secret.key), and while rotating keys put the previous one in OMNICHAT_SECRET_KEY_OLD")

// keyCheckText is what the key check holds: known, so opening it proves the key.
const keyCheckText = "omnichat key check 1"

// keyCheckAD binds the sealed check to its purpose (a channel's secrets never open as it).
var keyCheckAD = []byte("key-check")

// CheckKey makes sure this instance seals with the key every other instance on the
// database uses. The first instance on a database records a known text sealed with its key;
// an instance whose key ring cannot open it gets ErrKeyMismatch. A database that has
// channels but no check yet (written by an older omnichat) gets one only if this key opens
// every channel's secrets. During a rotation the check is re-sealed with the current key,
// like the channels (Reseal).
func (s *Service) CheckKey(ctx context.Context) error {
	sealed, err := store.KeyCheck(ctx, s.Store.Pool)
	if errors.Is(err, store.ErrNotFound) {
		sealed, err = s.writeKeyCheck(ctx)
	}
	if err != nil {
		return err
	}
	if pt, err := s.Box.Open(sealed, keyCheckAD); err != nil || string(pt) != keyCheckText {
		return ErrKeyMismatch
	}
	if s.Box.Current(sealed) {
		return nil
	}
	fresh, err := s.Box.Seal([]byte(keyCheckText), keyCheckAD)
	if err != nil {
		return fmt.Errorf("key check: %w", err)
	}
	if err := store.ReplaceKeyCheck(ctx, s.Store.Pool, sealed, fresh); err != nil {
		return err
	}
	s.Log.Info("key check re-sealed with the current key")
	return nil
}

// writeKeyCheck records the check sealed with this key, once this key opens every channel,
// and returns the check now in the database: two instances starting at once on an empty
// database both write, the first write wins and the other is compared against it.
func (s *Service) writeKeyCheck(ctx context.Context) ([]byte, error) {
	if err := s.openEveryChannel(ctx); err != nil {
		return nil, err
	}
	fresh, err := s.Box.Seal([]byte(keyCheckText), keyCheckAD)
	if err != nil {
		return nil, fmt.Errorf("key check: %w", err)
	}
	if err := store.InsertKeyCheck(ctx, s.Store.Pool, fresh); err != nil {
		return nil, err
	}
	return store.KeyCheck(ctx, s.Store.Pool)
}

// openEveryChannel fails with ErrKeyMismatch unless this key ring opens every channel's
// secrets (a database from before the key check).
func (s *Service) openEveryChannel(ctx context.Context) error {
	cs, err := store.ListChannels(ctx, s.Store.Pool)
	if err != nil {
		return err
	}
	sealed, failed := 0, 0
	for _, c := range cs {
		if len(c.Secrets) == 0 {
			continue
		}
		sealed++
		if _, err := s.Box.Open(c.Secrets, ad(c.ID)); err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w (%d of %d channels do not open with it)", ErrKeyMismatch, failed, sealed)
	}
	return nil
}
