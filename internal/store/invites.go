package store

import (
	"context"
	"time"
)

// CreateInvite stores a one-time invite for a user by its token hash; the user's earlier
// unused invites stop working.
func CreateInvite(ctx context.Context, db DB, userID, createdBy int64, hash []byte, expires time.Time) (int64, error) {
	if _, err := db.Exec(ctx, `DELETE FROM invites WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
		return 0, notFound(err, "replace invites")
	}
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO invites (user_id, token_hash, created_by, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		userID, hash, by, expires).Scan(&id)
	return id, notFoundOrNil(err, "create invite")
}

// InviteUser returns the invite id and the active user of an unused, unexpired invite.
func InviteUser(ctx context.Context, db DB, hash []byte, now time.Time) (int64, User, error) {
	var id int64
	var u User
	err := db.QueryRow(ctx, `SELECT i.id, `+userCols+` FROM invites i JOIN users u ON u.id = i.user_id
		WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND u.active`, hash, now).Scan(
		&id, &u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Active, &u.Locale, &u.Status, &u.Capacity, &u.CreatedAt, &u.LastAssignedAt)
	return id, u, notFoundOrNil(err, "invite")
}

// UseInvite marks an invite used; ErrNotFound when it was used meanwhile.
func UseInvite(ctx context.Context, db DB, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE invites SET used_at = now() WHERE id = $1 AND used_at IS NULL`, id)
	if err != nil {
		return notFound(err, "use invite")
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
