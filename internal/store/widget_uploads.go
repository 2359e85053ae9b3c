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

// UploadCharge is one budget a widget upload was charged to.
type UploadCharge struct {
	Scope, Key  string
	WindowStart time.Time
}

// ChargeUploadBudget adds bytes to the (scope, key) counter of the current fixed window
// unless that would pass limit; the check and the addition are one statement, so
// concurrent uploads at any instance cannot both slip under the limit. ok is false when
// refused; retryAfter is the time left in the window.
func ChargeUploadBudget(ctx context.Context, db DB, scope, key string, window time.Duration, bytes, limit int64) (charge UploadCharge, ok bool, retryAfter time.Duration, err error) {
	charge = UploadCharge{Scope: scope, Key: key}
	if bytes > limit {
		// Never fits: refused without a row (the INSERT below would accept it).
		err = db.QueryRow(ctx, `SELECT to_timestamp(floor(extract(epoch FROM now())::float8 / $1::float8) * $1::float8)`, window.Seconds()).Scan(&charge.WindowStart)
		return charge, false, window, notFoundOrNil(err, "upload budget window")
	}
	var total *int64
	var left float64
	err = db.QueryRow(ctx, `WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now())::float8 / $3::float8) * $3::float8) AS start),
		ins AS (INSERT INTO upload_budgets AS b (scope, key, window_start, bytes)
			SELECT $1, $2, w.start, $4 FROM w
			ON CONFLICT (scope, key, window_start) DO UPDATE SET bytes = b.bytes + excluded.bytes
			WHERE b.bytes + excluded.bytes <= $5
			RETURNING bytes)
		SELECT (SELECT bytes FROM ins), w.start, extract(epoch FROM w.start + make_interval(secs => $3::float8) - now())::float8 FROM w`,
		scope, key, window.Seconds(), bytes, limit).Scan(&total, &charge.WindowStart, &left)
	if err != nil {
		return charge, false, 0, notFound(err, "charge upload budget")
	}
	return charge, total != nil, time.Duration(left * float64(time.Second)), nil
}

// AdjustUploadBudget corrects a charge by delta bytes (negative: a refund, when the upload
// failed or stored less than was charged).
func AdjustUploadBudget(ctx context.Context, db DB, c UploadCharge, delta int64) error {
	_, err := db.Exec(ctx, `UPDATE upload_budgets SET bytes = greatest(bytes + $4, 0) WHERE scope = $1 AND key = $2 AND window_start = $3`,
		c.Scope, c.Key, c.WindowStart, delta)
	return notFoundOrNil(err, "adjust upload budget")
}

// PruneUploadBudgets removes the counters of windows that started before before.
func PruneUploadBudgets(ctx context.Context, db DB, before time.Duration) error {
	_, err := db.Exec(ctx, `DELETE FROM upload_budgets WHERE window_start < now() - $1::interval`, before)
	return notFoundOrNil(err, "prune upload budgets")
}
