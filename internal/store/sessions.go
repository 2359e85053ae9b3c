package store

import (
	"context"
	"time"
)

// Session is a sign-in or an API token.
type Session struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	CSRFToken  string    `json:"-"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// CreateSession stores a session by the hash of its token.
func CreateSession(ctx context.Context, db DB, hash []byte, s *Session) error {
	err := db.QueryRow(ctx, `INSERT INTO sessions (user_id, token_hash, kind, name, csrf_token, user_agent, ip, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at, last_used_at`,
		s.UserID, hash, s.Kind, s.Name, s.CSRFToken, s.UserAgent, s.IP, s.ExpiresAt).Scan(&s.ID, &s.CreatedAt, &s.LastUsedAt)
	return notFoundOrNil(err, "create session")
}

// SessionUser returns the session with this token hash, live at now, and its active user.
// now comes from the caller's clock (auth.Service.Now) so tests can move time. It refreshes
// last_used_at at most once a minute to keep writes off the hot path.
func SessionUser(ctx context.Context, db DB, hash []byte, now time.Time) (Session, User, error) {
	var s Session
	var u User
	err := db.QueryRow(ctx, `SELECT s.id, s.user_id, s.kind, s.name, s.csrf_token, s.created_at, s.last_used_at, s.expires_at, `+userCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active`, hash, now).Scan(
		&s.ID, &s.UserID, &s.Kind, &s.Name, &s.CSRFToken, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt,
		&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Active, &u.Locale, &u.Status, &u.Capacity, &u.CreatedAt, &u.LastAssignedAt)
	if err != nil {
		return s, u, notFound(err, "session")
	}
	if now.Sub(s.LastUsedAt) > time.Minute {
		if _, err := db.Exec(ctx, `UPDATE sessions SET last_used_at = $2 WHERE id = $1`, s.ID, now); err != nil {
			return s, u, notFound(err, "touch session")
		}
	}
	return s, u, nil
}

// DeleteSession removes one session of a user: of the given kind ("session" or "api"),
// or of any kind when kind is empty.
func DeleteSession(ctx context.Context, db DB, userID, id int64, kind string) error {
	tag, err := db.Exec(ctx, `DELETE FROM sessions WHERE id = $1 AND user_id = $2 AND ($3 = '' OR kind = $3)`, id, userID, kind)
	if err != nil {
		return notFound(err, "delete session")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "delete session")
	}
	return nil
}

// RevokeSession deletes session id of the given kind ("session" or "api") and returns its
// user. ownerID > 0 limits it to that user's sessions; 0 (an admin) takes anyone's.
func RevokeSession(ctx context.Context, db DB, id, ownerID int64, kind string) (int64, error) {
	var userID int64
	err := db.QueryRow(ctx, `DELETE FROM sessions WHERE id = $1 AND ($2 = 0 OR user_id = $2) AND kind = $3 RETURNING user_id`,
		id, ownerID, kind).Scan(&userID)
	return userID, notFoundOrNil(err, "revoke session")
}

// DeleteUserSessions signs a user out everywhere (deactivation, password change): sessions
// of the given kind, or of every kind (API tokens too) when kind is empty.
func DeleteUserSessions(ctx context.Context, db DB, userID int64, kind string) error {
	_, err := db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND ($2 = '' OR kind = $2)`, userID, kind)
	return notFoundOrNil(err, "delete user sessions")
}

// ListSessions lists a user's sessions of a kind that are live at now (the caller's clock,
// as for SessionUser).
func ListSessions(ctx context.Context, db DB, userID int64, kind string, now time.Time) ([]Session, error) {
	rows, err := db.Query(ctx, `SELECT id, user_id, kind, name, user_agent, ip, created_at, last_used_at, expires_at
		FROM sessions WHERE user_id = $1 AND kind = $2 AND expires_at > $3 ORDER BY id DESC`, userID, kind, now)
	if err != nil {
		return nil, notFound(err, "list sessions")
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var s Session
		if err := rows.Scan(&s.ID, &s.UserID, &s.Kind, &s.Name, &s.UserAgent, &s.IP, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt); err != nil {
			return nil, notFound(err, "scan session")
		}
		out = append(out, s)
	}
	return out, notFoundOrNil(rows.Err(), "list sessions")
}

// RecordLoginFailure notes a failed sign-in at time at under each key (address, email).
func RecordLoginFailure(ctx context.Context, db DB, at time.Time, keys ...string) error {
	_, err := db.Exec(ctx, `INSERT INTO login_failures (key, at) SELECT unnest($1::text[]), $2`, keys, at)
	return notFoundOrNil(err, "record login failure")
}

// LoginAttempt identifies the rows ReserveLoginAttempt wrote.
type LoginAttempt []string

// ReserveLoginAttempt records a sign-in attempt as a failure under each key before the
// password is checked, so concurrent attempts count each other (auth.Service.Login).
func ReserveLoginAttempt(ctx context.Context, db DB, at time.Time, keys ...string) (LoginAttempt, error) {
	// login_failures has no key of its own; the rows' ctid names them until they are
	// deleted (rows here are never updated, so a ctid does not move).
	rows, err := db.Query(ctx, `INSERT INTO login_failures (key, at) SELECT unnest($1::text[]), $2 RETURNING ctid::text`, keys, at)
	if err != nil {
		return nil, notFound(err, "reserve login attempt")
	}
	defer rows.Close()
	var a LoginAttempt
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "reserve login attempt")
		}
		a = append(a, id)
	}
	return a, notFoundOrNil(rows.Err(), "reserve login attempt")
}

// ReleaseLoginAttempt takes back a reserved attempt (it succeeded or was refused).
func ReleaseLoginAttempt(ctx context.Context, db DB, a LoginAttempt) error {
	_, err := db.Exec(ctx, `DELETE FROM login_failures WHERE ctid = ANY($1::tid[])`, []string(a))
	return notFoundOrNil(err, "release login attempt")
}

// LoginFailures counts failures of key after since.
func LoginFailures(ctx context.Context, db DB, key string, since time.Time) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM login_failures WHERE key = $1 AND at > $2`, key, since).Scan(&n)
	return n, notFoundOrNil(err, "count login failures")
}

// PruneLoginFailures deletes old failures and expired sessions.
func PruneLoginFailures(ctx context.Context, db DB, older time.Duration) error {
	if _, err := db.Exec(ctx, `DELETE FROM login_failures WHERE at < now() - $1::interval`, older); err != nil {
		return notFound(err, "prune login failures")
	}
	_, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`)
	return notFoundOrNil(err, "prune sessions")
}
