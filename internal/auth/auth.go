// Package auth signs users in: argon2id password hashes, random session and API tokens
// stored as SHA-256 hashes, sign-in rate limits, roles.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/jackc/pgx/v5"

	"github.com/omnichat/omnichat/internal/apperr"
	"github.com/omnichat/omnichat/internal/store"
)

// Roles.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
)

// Limits for sign-in attempts (failures within Window).
const (
	Window          = 15 * time.Minute
	MaxPerEmail     = 10
	MaxPerAddress   = 30
	MinPasswordLen  = 8
	MaxPasswordLen  = 200
	apiTokenTTLDays = 3650
)

// Service signs users in and out.
type Service struct {
	Store      *store.Store
	SessionTTL time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
}

// ErrBadCredentials is the single answer to a wrong email or password.
var ErrBadCredentials = &apperr.Error{Code: apperr.Unauthorized, Message: "wrong email or password"}

// Identity is a signed-in caller.
type Identity struct {
	User    store.User
	Session store.Session
	// Cookie is true when the caller authenticated with the session cookie (CSRF applies).
	Cookie bool
}

// Admin reports whether the caller is an admin.
func (i Identity) Admin() bool { return i.User.Role == RoleAdmin }

// HashPassword returns an encoded argon2id hash.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	const t, m, p = 2, 19 * 1024, 1 // OWASP's argon2id minimum: 19 MiB, 2 passes
	key := argon2.IDKey([]byte(pw), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword compares pw with an encoded hash in constant time.
func CheckPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash keeps a sign-in for an unknown email as slow as one for a known email.
var dummyHash, _ = HashPassword("omnichat-timing-equalizer")

// ValidatePassword applies the password rules.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || len(pw) > MaxPasswordLen {
		return &apperr.Error{Code: apperr.Invalid, Message: fmt.Sprintf("the password must have %d to %d characters", MinPasswordLen, MaxPasswordLen), Fields: []string{"password"}}
	}
	if strings.TrimSpace(pw) == "" {
		return &apperr.Error{Code: apperr.Invalid, Message: "the password cannot be only spaces", Fields: []string{"password"}}
	}
	return nil
}

// NewToken returns a random token and its hash.
func NewToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok), nil
}

// HashToken is how tokens are stored.
func HashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Login checks credentials and opens a session. Failed attempts are limited per address
// and per email; the answer never tells which of email or password was wrong.
//
// Each attempt is recorded as a failure before it is checked, and counted with the others
// after: concurrent guesses (on any instance) see each other, so a burst cannot get more
// than the limit through. A refused or successful attempt takes its record back.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (string, store.Session, store.User, error) {
	email = strings.TrimSpace(email)
	emailKey, ipKey := "email:"+strings.ToLower(email), "ip:"+ip
	now := s.now()
	attempt, err := store.ReserveLoginAttempt(ctx, s.Store.Pool, now, emailKey, ipKey)
	if err != nil {
		return "", store.Session{}, store.User{}, err
	}
	release := func() error { return store.ReleaseLoginAttempt(context.WithoutCancel(ctx), s.Store.Pool, attempt) }
	for _, l := range []struct {
		key string
		max int
	}{{emailKey, MaxPerEmail}, {ipKey, MaxPerAddress}} {
		n, err := store.LoginFailures(ctx, s.Store.Pool, l.key, now.Add(-Window))
		if err != nil {
			return "", store.Session{}, store.User{}, errors.Join(err, release())
		}
		if n > l.max { // n includes this attempt
			if err := release(); err != nil {
				return "", store.Session{}, store.User{}, err
			}
			return "", store.Session{}, store.User{}, apperr.New(apperr.RateLimited, "too many failed sign-ins: try again in %d minutes", int(Window.Minutes()))
		}
	}
	u, err := store.UserByEmail(ctx, s.Store.Pool, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", store.Session{}, store.User{}, errors.Join(err, release())
	}
	if err != nil || !u.Active || len(password) > MaxPasswordLen {
		CheckPassword(dummyHash, password)
		return "", store.Session{}, store.User{}, ErrBadCredentials // the reserved record stays: a failure
	}
	if !CheckPassword(u.PasswordHash, password) {
		return "", store.Session{}, store.User{}, ErrBadCredentials
	}
	if err := release(); err != nil {
		return "", store.Session{}, store.User{}, err
	}
	tok, sess, err := s.NewSession(ctx, u.ID, "session", "", ip, userAgent)
	return tok, sess, u, err
}

// NewSession opens a session (kind "session") or an API token (kind "api").
func (s *Service) NewSession(ctx context.Context, userID int64, kind, name, ip, userAgent string) (string, store.Session, error) {
	tok, hash, err := NewToken()
	if err != nil {
		return "", store.Session{}, err
	}
	csrf, _, err := NewToken()
	if err != nil {
		return "", store.Session{}, err
	}
	ttl := s.SessionTTL
	if kind == "api" {
		ttl = apiTokenTTLDays * 24 * time.Hour
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	sess := store.Session{UserID: userID, Kind: kind, Name: name, CSRFToken: csrf, IP: ip, UserAgent: userAgent, ExpiresAt: s.now().Add(ttl)}
	if err := store.CreateSession(ctx, s.Store.Pool, hash, &sess); err != nil {
		return "", sess, err
	}
	return tok, sess, nil
}

// Authenticate resolves a token to its live session and active user.
func (s *Service) Authenticate(ctx context.Context, token string) (store.Session, store.User, error) {
	if token == "" || len(token) > 200 {
		return store.Session{}, store.User{}, apperr.New(apperr.Unauthorized, "sign in first")
	}
	sess, u, err := store.SessionUser(ctx, s.Store.Pool, HashToken(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return sess, u, apperr.New(apperr.Unauthorized, "the session has expired or was signed out: sign in again")
	}
	return sess, u, err
}

// SessionInfo is a session or API token as listed: never its token or CSRF token.
type SessionInfo struct {
	store.Session
	// Current marks the session the caller is using.
	Current bool `json:"current"`
}

// ListSessions lists userID's live sessions (kind "session") or API tokens (kind "api"):
// a user may list their own, an admin anyone's.
func (s *Service) ListSessions(ctx context.Context, caller Identity, userID int64, kind string) ([]SessionInfo, error) {
	if userID != caller.User.ID {
		if !caller.Admin() {
			return nil, apperr.New(apperr.Forbidden, "only admins may see other users' sessions")
		}
		if _, err := store.UserByID(ctx, s.Store.Pool, userID); errors.Is(err, store.ErrNotFound) {
			return nil, apperr.New(apperr.NotFound, "user %d not found", userID)
		} else if err != nil {
			return nil, err
		}
	}
	ss, err := store.ListSessions(ctx, s.Store.Pool, userID, kind, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(ss))
	for _, x := range ss {
		out = append(out, SessionInfo{Session: x, Current: x.ID == caller.Session.ID})
	}
	return out, nil
}

// Revoke ends a session (kind "session") or API token (kind "api") at once: the caller's
// own, or as an admin anyone's. Ending another user's session and every API token
// revocation are audited. Another user's session is "not found" to a non-admin.
func (s *Service) Revoke(ctx context.Context, caller Identity, id int64, kind string) error {
	owner := caller.User.ID
	if caller.Admin() {
		owner = 0
	}
	return s.Store.Tx(ctx, func(tx pgx.Tx) error {
		userID, err := store.RevokeSession(ctx, tx, id, owner, kind)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.New(apperr.NotFound, "session not found")
		}
		if err != nil {
			return err
		}
		if userID == caller.User.ID && kind == "session" {
			return nil // signing out one's own browser is not an admin action
		}
		action := "session.revoke"
		if kind == "api" {
			action = "token.revoke"
		}
		return store.Audit(ctx, tx, caller.User.ID, action, "session", id, map[string]any{"user_id": userID})
	})
}

// EndAllSessions deletes every session and API token of userID inside tx (deactivation),
// so nothing issued before comes back to life if the user is reactivated.
func (s *Service) EndAllSessions(ctx context.Context, tx pgx.Tx, userID int64) error {
	return store.DeleteUserSessions(ctx, tx, userID, "")
}

// CreateUser adds a user; an empty password generates one, which is returned.
func (s *Service) CreateUser(ctx context.Context, actorID int64, email, name, role, password string, capacity int) (store.User, string, error) {
	email = strings.TrimSpace(email)
	if !strings.Contains(email, "@") || len(email) > 254 {
		return store.User{}, "", &apperr.Error{Code: apperr.Invalid, Message: "a valid email is required", Fields: []string{"email"}}
	}
	if role != RoleAdmin && role != RoleOperator {
		return store.User{}, "", &apperr.Error{Code: apperr.Invalid, Message: "role must be admin or operator", Fields: []string{"role"}}
	}
	generated := ""
	if password == "" {
		tok, _, err := NewToken()
		if err != nil {
			return store.User{}, "", err
		}
		password, generated = tok[:20], tok[:20]
	}
	if err := ValidatePassword(password); err != nil {
		return store.User{}, "", err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, "", err
	}
	if name == "" {
		name = strings.Split(email, "@")[0]
	}
	u := store.User{Email: email, Name: name, Role: role, PasswordHash: hash, Capacity: capacity}
	err = s.Store.Tx(ctx, func(tx pgx.Tx) error {
		if err := store.CreateUser(ctx, tx, &u); err != nil {
			return err
		}
		return store.Audit(ctx, tx, actorID, "user.create", "user", u.ID, map[string]any{"email": email, "role": role})
	})
	if errors.Is(err, store.ErrConflict) {
		return u, "", &apperr.Error{Code: apperr.Conflict, Message: "a user with this email exists", Fields: []string{"email"}}
	}
	return u, generated, err
}

// EnsureAdmin creates the bootstrap admin if no user has that email.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	if _, err := store.UserByEmail(ctx, s.Store.Pool, email); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	_, _, err := s.CreateUser(ctx, 0, email, "Admin", RoleAdmin, password, 0)
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code == apperr.Conflict {
		return false, nil // another instance created it at the same moment
	}
	return err == nil, err
}

// CSRFMatches compares a request's CSRF token with the session's.
func CSRFMatches(sess store.Session, token string) bool {
	return sess.CSRFToken != "" && subtle.ConstantTimeCompare([]byte(sess.CSRFToken), []byte(token)) == 1
}
