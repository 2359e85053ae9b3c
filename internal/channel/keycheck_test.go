package channel

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/omnichat/omnichat/internal/seal"
	"github.com/omnichat/omnichat/internal/store"
	"github.com/omnichat/omnichat/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var keyA, keyB = bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32)

func service(t *testing.T, pool *pgxpool.Pool, keys ...[]byte) *Service {
	t.Helper()
	box, err := seal.New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: store.New(pool), Box: box, Log: slog.New(slog.DiscardHandler)}
}

// The first instance on an empty database records the check; another key is refused with
// the one line naming OMNICHAT_SECRET_KEY; the first key still starts.
func TestCheckKeyFirstInstanceWins(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	if err := service(t, pool, keyA).CheckKey(ctx); err != nil {
		t.Fatalf("first instance: %v", err)
	}
	if _, err := store.KeyCheck(ctx, pool); err != nil {
		t.Fatalf("no check recorded: %v", err)
	}
	err := service(t, pool, keyB).CheckKey(ctx)
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("another key: %v, want ErrKeyMismatch", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "OMNICHAT_SECRET_KEY ") || strings.Contains(msg, "\n") {
		t.Fatalf("error %q: want one line starting with OMNICHAT_SECRET_KEY", msg)
	}
	if err := service(t, pool, keyA).CheckKey(ctx); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
}

// Rotation: a ring with the new key first and the old one behind it starts and re-seals the
// check, after which the old key alone is refused and the new one alone starts.
func TestCheckKeyRotation(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	if err := service(t, pool, keyA).CheckKey(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := store.KeyCheck(ctx, pool)
	if err := service(t, pool, keyB, keyA).CheckKey(ctx); err != nil {
		t.Fatalf("rotating: %v", err)
	}
	after, _ := store.KeyCheck(ctx, pool)
	if bytes.Equal(before, after) {
		t.Fatal("the check was not re-sealed")
	}
	if err := service(t, pool, keyA).CheckKey(ctx); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("the old key after rotation: %v, want ErrKeyMismatch", err)
	}
	if err := service(t, pool, keyB).CheckKey(ctx); err != nil {
		t.Fatalf("the new key alone: %v", err)
	}
}

// A database from before the check (channels, no check): the check is written only by a
// key that opens the channels' secrets.
func TestCheckKeyExistingChannels(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	a := service(t, pool, keyA)
	c := store.Channel{Kind: "example", Name: "old", Enabled: true, Settings: map[string]string{}, Secrets: []byte{}}
	if err := store.CreateChannel(ctx, pool, &c); err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Box.Seal([]byte(`{"secret":"s"}`), ad(c.ID))
	if err != nil {
		t.Fatal(err)
	}
	c.Secrets = sealed
	if err := store.UpdateChannel(ctx, pool, &c); err != nil {
		t.Fatal(err)
	}
	err = service(t, pool, keyB).CheckKey(ctx)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "1 of 1 channels") {
		t.Fatalf("a key that opens no channel: %v", err)
	}
	if _, err := store.KeyCheck(ctx, pool); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused key wrote the check: %v", err)
	}
	if err := a.CheckKey(ctx); err != nil {
		t.Fatalf("the channels' key: %v", err)
	}
	if err := service(t, pool, keyB).CheckKey(ctx); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("after the check was written: %v", err)
	}
}
