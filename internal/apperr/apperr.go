// Package apperr is the one domain error type. Services return it with no HTTP imports;
// httpapi maps its Code to a status in one place.
package apperr

import (
	"fmt"
	"time"
)

// Codes.
const (
	NotFound     = "not_found"
	Forbidden    = "forbidden"
	Conflict     = "conflict"
	Invalid      = "invalid"
	Unsupported  = "unsupported"
	Unauthorized = "unauthorized"
	RateLimited  = "rate_limited"
	TooLarge     = "too_large"
)

// Error is a domain error whose Message is safe to show to the caller.
type Error struct {
	Code    string
	Message string
	Fields  []string // settings or form fields at fault, when known
	// RetryAfter, when set on a RateLimited error, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New builds an error.
func New(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
