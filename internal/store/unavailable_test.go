package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestIsUnavailable(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a bug", errors.New("boom"), false},
		{"not found", ErrNotFound, false},
		{"unique violation", pg("23505"), false},
		{"bad bytes", pg("22021"), false},
		{"canceled by the caller", fmt.Errorf("x: %w", context.Canceled), false},
		{"connection failure", pg("08006"), true},
		{"admin shutdown", pg("57P01"), true},
		{"crash shutdown", pg("57P02"), true},
		{"cannot connect now", pg("57P03"), true},
		{"pool wait timed out", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"connection dropped", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
	} {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}

	// Real driver errors: a server that is not there, and a closed pool.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	err = pool.Ping(ctx)
	if !IsUnavailable(err) {
		t.Errorf("no server: IsUnavailable(%v) = false", err)
	}
	pool.Close()
	if err := pool.Ping(ctx); !IsUnavailable(err) {
		t.Errorf("closed pool: IsUnavailable(%v) = false", err)
	}
}
