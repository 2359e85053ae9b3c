package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsUnavailable reports whether err means the database cannot be reached right now
// (stopped, restarting, unreachable, refusing connections, pool closed) rather than that the
// request or the code is wrong. Callers answer "try again later" (HTTP 503 with
// Retry-After, a job retry) instead of treating it as a bug. It is the one classification:
// use it rather than matching driver errors elsewhere.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exceptions. 57P01-57P03: admin shutdown, crash shutdown,
		// cannot connect now (starting up, shutting down, in recovery).
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	// Waiting for a pool connection that never comes returns the bare context error.
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// A connection dropped mid-query.
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// pgxpool's "closed pool" (puddle.ErrClosedPool, which pgx does not re-export).
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "closed pool" {
			return true
		}
	}
	return false
}
