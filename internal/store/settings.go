package store

import (
	"context"
	"encoding/json"
)

// GetSetting decodes the setting key into v; ErrNotFound when it was never set.
func GetSetting(ctx context.Context, db DB, key string, v any) error {
	var raw []byte
	if err := db.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&raw); err != nil {
		return notFound(err, "setting "+key)
	}
	return json.Unmarshal(raw, v)
}

// PutSetting stores v under key.
func PutSetting(ctx context.Context, db DB, key string, v any) error {
	_, err := db.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`, key, jsonOf(v))
	return notFoundOrNil(err, "put setting "+key)
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         string          `json:"at"`
	UserID     *int64          `json:"user_id"`
	UserEmail  string          `json:"user_email"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   *int64          `json:"target_id"`
	Details    json.RawMessage `json:"details"`
}

// Audit records who changed what. details must never hold a secret.
func Audit(ctx context.Context, db DB, userID int64, action, targetType string, targetID int64, details any) error {
	if details == nil {
		details = map[string]any{}
	}
	var uid, tid *int64
	if userID != 0 {
		uid = &userID
	}
	if targetID != 0 {
		tid = &targetID
	}
	_, err := db.Exec(ctx, `INSERT INTO audit_log (user_id, action, target_type, target_id, details) VALUES ($1, $2, $3, $4, $5)`,
		uid, action, targetType, tid, jsonOf(details))
	return notFoundOrNil(err, "audit")
}
