package store

import "context"

// KeyCheck returns the sealed key check; ErrNotFound before the first instance wrote it.
func KeyCheck(ctx context.Context, db DB) ([]byte, error) {
	var sealed []byte
	if err := db.QueryRow(ctx, `SELECT sealed FROM key_check`).Scan(&sealed); err != nil {
		return nil, notFound(err, "key check")
	}
	return sealed, nil
}

// InsertKeyCheck writes the key check unless one exists (two instances starting at once:
// the first write wins and the other compares against it).
func InsertKeyCheck(ctx context.Context, db DB, sealed []byte) error {
	_, err := db.Exec(ctx, `INSERT INTO key_check (sealed) VALUES ($1) ON CONFLICT (id) DO NOTHING`, sealed)
	return notFoundOrNil(err, "insert key check")
}

// ReplaceKeyCheck re-seals the key check (key rotation) if it still holds old.
func ReplaceKeyCheck(ctx context.Context, db DB, old, sealed []byte) error {
	_, err := db.Exec(ctx, `UPDATE key_check SET sealed = $2, updated_at = now() WHERE sealed = $1`, old, sealed)
	return notFoundOrNil(err, "replace key check")
}
