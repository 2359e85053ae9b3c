package store

import (
	"context"
	"time"
)

// AuditFilter narrows the audit log for the admin page. Zero values match everything.
type AuditFilter struct {
	Action     string // prefix: "channel." matches channel.create, channel.update…
	TargetType string
	TargetID   int64
	UserID     int64
	UserEmail  string // substring, case-insensitive
	Since      time.Time
	Until      time.Time // exclusive
	BeforeID   int64
	Limit      int
}

// FilterAudit returns entries newest first.
func FilterAudit(ctx context.Context, db DB, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	rows, err := db.Query(ctx, `SELECT a.id, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), a.user_id, coalesce(u.email, ''), a.action, a.target_type, a.target_id, a.details
		FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
		WHERE ($1 = '' OR a.action LIKE replace(replace($1, '%', '\%'), '_', '\_') || '%')
		  AND ($2 = '' OR a.target_type = $2)
		  AND ($3 = 0 OR a.target_id = $3)
		  AND ($4 = 0 OR a.user_id = $4)
		  AND ($5 = '' OR u.email ILIKE '%' || replace(replace($5, '%', '\%'), '_', '\_') || '%')
		  AND ($6::timestamptz IS NULL OR a.at >= $6)
		  AND ($7::timestamptz IS NULL OR a.at < $7)
		  AND ($8 = 0 OR a.id < $8)
		ORDER BY a.id DESC LIMIT $9`,
		f.Action, f.TargetType, f.TargetID, f.UserID, f.UserEmail, since, until, f.BeforeID, f.Limit)
	if err != nil {
		return nil, notFound(err, "filter audit")
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.UserID, &e.UserEmail, &e.Action, &e.TargetType, &e.TargetID, &e.Details); err != nil {
			return nil, notFound(err, "scan audit")
		}
		out = append(out, e)
	}
	return out, notFoundOrNil(rows.Err(), "filter audit")
}
