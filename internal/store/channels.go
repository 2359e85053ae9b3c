package store

import (
	"context"
	"encoding/json"
	"time"
)

// Channel is a stored channel. Secrets stay sealed here; internal/channel opens them.
type Channel struct {
	ID             int64             `json:"id"`
	Kind           string            `json:"kind"`
	Name           string            `json:"name"`
	DepartmentID   *int64            `json:"department_id"`
	Enabled        bool              `json:"enabled"`
	Settings       map[string]string `json:"settings"`
	Secrets        []byte            `json:"-"`
	WebhookState   string            `json:"webhook_state"`
	WebhookError   string            `json:"webhook_error"`
	LastActivityAt *time.Time        `json:"last_activity_at"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

const channelCols = `id, kind, name, department_id, enabled, settings, secrets, webhook_state, webhook_error, last_activity_at, created_at, updated_at`

func scanChannel(row interface{ Scan(...any) error }, c *Channel) error {
	var settings []byte
	if err := row.Scan(&c.ID, &c.Kind, &c.Name, &c.DepartmentID, &c.Enabled, &settings, &c.Secrets, &c.WebhookState, &c.WebhookError, &c.LastActivityAt, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return err
	}
	return json.Unmarshal(settings, &c.Settings)
}

// CreateChannel inserts c and sets its id.
func CreateChannel(ctx context.Context, db DB, c *Channel) error {
	err := db.QueryRow(ctx, `INSERT INTO channels (kind, name, department_id, enabled, settings, secrets)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at, updated_at, webhook_state`,
		c.Kind, c.Name, c.DepartmentID, c.Enabled, c.Settings, c.Secrets).Scan(&c.ID, &c.CreatedAt, &c.UpdatedAt, &c.WebhookState)
	return notFoundOrNil(err, "create channel")
}

// UpdateChannel stores name, department, enabled, settings and secrets.
func UpdateChannel(ctx context.Context, db DB, c *Channel) error {
	tag, err := db.Exec(ctx, `UPDATE channels SET name = $2, department_id = $3, enabled = $4, settings = $5, secrets = $6, updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL`, c.ID, c.Name, c.DepartmentID, c.Enabled, c.Settings, c.Secrets)
	if err != nil {
		return notFound(err, "update channel")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "update channel")
	}
	return nil
}

// SetWebhookState records whether the platform accepted the webhook.
func SetWebhookState(ctx context.Context, db DB, id int64, state, errText string) error {
	_, err := db.Exec(ctx, `UPDATE channels SET webhook_state = $2, webhook_error = $3 WHERE id = $1`, id, state, errText)
	return notFoundOrNil(err, "set webhook state")
}

// DeleteChannel marks a channel deleted; its dialogs and history stay (archive).
func DeleteChannel(ctx context.Context, db DB, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE channels SET deleted_at = now(), enabled = false WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		return notFound(err, "delete channel")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "delete channel")
	}
	return nil
}

// ChannelByID returns a channel that is not deleted.
func ChannelByID(ctx context.Context, db DB, id int64) (Channel, error) {
	var c Channel
	err := scanChannel(db.QueryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE id = $1 AND deleted_at IS NULL`, id), &c)
	if err != nil {
		return c, notFound(err, "channel")
	}
	return c, nil
}

// ListChannels returns every channel that is not deleted.
func ListChannels(ctx context.Context, db DB) ([]Channel, error) {
	rows, err := db.Query(ctx, `SELECT `+channelCols+` FROM channels WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, notFound(err, "list channels")
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		var c Channel
		if err := scanChannel(rows, &c); err != nil {
			return nil, notFound(err, "scan channel")
		}
		out = append(out, c)
	}
	return out, notFoundOrNil(rows.Err(), "list channels")
}
