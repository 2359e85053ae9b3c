package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AddWidgetUpload records a visitor's upload (its blob key) so an unsent one can be found
// and removed later.
func AddWidgetUpload(ctx context.Context, db DB, ref string, channelID int64) error {
	if _, err := db.Exec(ctx, `INSERT INTO widget_uploads (ref, channel_id) VALUES ($1, $2)`, ref, channelID); err != nil {
		return fmt.Errorf("add widget upload: %w", err)
	}
	return nil
}

// DeleteWidgetUpload forgets an upload whose blob is gone.
func DeleteWidgetUpload(ctx context.Context, db DB, ref string) error {
	if _, err := db.Exec(ctx, `DELETE FROM widget_uploads WHERE ref = $1`, ref); err != nil {
		return fmt.Errorf("delete widget upload: %w", err)
	}
	return nil
}

// StaleWidgetUploads lists at most limit uploads older than older that no message still
// needs: a sent upload is needed only while its message's download job has not finished
// (the job's arguments are the only place the reference is kept, see
// dialog.FetchAttachmentsArgs).
func StaleWidgetUploads(ctx context.Context, db DB, older time.Duration, limit int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT u.ref FROM widget_uploads u
		WHERE u.created_at < now() - $1::interval
		AND NOT EXISTS (SELECT 1 FROM river_job j
			WHERE j.kind = 'fetch_attachments'
			AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
			AND j.args->'sources' @> jsonb_build_array(jsonb_build_object('ref', u.ref)))
		ORDER BY u.created_at LIMIT $2`, older, limit)
	if err != nil {
		return nil, fmt.Errorf("stale widget uploads: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("stale widget uploads: %w", err)
	}
	return refs, nil
}
