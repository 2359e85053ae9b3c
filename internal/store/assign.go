package store

import (
	"context"
	"time"
)

// AssignLock serializes every assignment decision across instances: the counts a decision
// reads are then the ones committed by the previous decision, so no operator goes over
// capacity and no dialog is assigned twice. Assignments are rare next to messages, so one
// transaction-level advisory lock costs nothing measurable.
func AssignLock(ctx context.Context, db DB) error {
	_, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(7262837001)`)
	return notFoundOrNil(err, "assignment lock")
}

// LockDialog locks a dialog row for a state change and returns it.
func LockDialog(ctx context.Context, db DB, id int64) (Dialog, error) {
	var d Dialog
	err := db.QueryRow(ctx, `SELECT id, channel_id, visitor_id, department_id, status, assignee_id, offline_reply_sent, last_activity_at,
		coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM dialog_participants p WHERE p.dialog_id = d.id), '{}')
		FROM dialogs d WHERE id = $1 FOR UPDATE`, id).Scan(&d.ID, &d.ChannelID, &d.VisitorID, &d.DepartmentID, &d.Status, &d.AssigneeID, &d.OfflineReplySent, &d.LastActivityAt, &d.Participants)
	if err != nil {
		return d, notFound(err, "lock dialog")
	}
	return d, nil
}

// present is the condition for "operator u is active, online by choice and has a stream open".
const present = `u.active AND u.status = 'online'
	AND EXISTS (SELECT 1 FROM presence p WHERE p.user_id = u.id AND p.connections > 0 AND p.seen_at > now() - interval '` + PresenceTTL + `')`

// eligible is the condition for "operator u may take a dialog of department $1 now".
const eligible = present + `
	AND ($1::bigint IS NULL OR EXISTS (SELECT 1 FROM department_members m WHERE m.user_id = u.id AND m.department_id = $1))`

// PickOperator returns the eligible operator under capacity with the fewest open dialogs
// (ties: the one idle longest), or 0. Call it under AssignLock.
func PickOperator(ctx context.Context, db DB, departmentID *int64) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `SELECT u.id FROM users u
		CROSS JOIN LATERAL (SELECT count(*) AS open FROM dialogs d WHERE d.assignee_id = u.id AND d.status = 'open') c
		WHERE `+eligible+` AND c.open < u.capacity
		ORDER BY c.open, u.last_assigned_at, u.id LIMIT 1`, departmentID).Scan(&id)
	if isNoRows(err) {
		return 0, nil
	}
	return id, notFoundOrNil(err, "pick operator")
}

// FreeDepartments returns the departments that have an eligible operator under capacity,
// and whether anyone at all is (then dialogs without a department can be handed out too).
// A dispatch pass reads only the queues of these departments.
func FreeDepartments(ctx context.Context, db DB) (deps []int64, anyone bool, err error) {
	err = db.QueryRow(ctx, `WITH free AS (SELECT u.id FROM users u WHERE `+present+`
			AND (SELECT count(*) FROM dialogs d WHERE d.assignee_id = u.id AND d.status = 'open') < u.capacity)
		SELECT EXISTS (SELECT 1 FROM free),
			coalesce(array_agg(DISTINCT m.department_id) FILTER (WHERE m.department_id IS NOT NULL), '{}')
		FROM free f LEFT JOIN department_members m ON m.user_id = f.id`).Scan(&anyone, &deps)
	return deps, anyone, notFoundOrNil(err, "free departments")
}

// AnyoneOnline reports whether an operator of the department is online at all (capacity aside).
func AnyoneOnline(ctx context.Context, db DB, departmentID *int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users u WHERE `+eligible+`)`, departmentID).Scan(&ok)
	return ok, notFoundOrNil(err, "anyone online")
}

// SetAssignee assigns (or, with nil, queues) a dialog.
func SetAssignee(ctx context.Context, db DB, dialogID int64, userID *int64) error {
	_, err := db.Exec(ctx, `UPDATE dialogs SET assignee_id = $2, queued_at = CASE WHEN $2::bigint IS NULL THEN now() ELSE queued_at END WHERE id = $1`, dialogID, userID)
	if err != nil {
		return notFound(err, "set assignee")
	}
	if userID != nil {
		_, err = db.Exec(ctx, `UPDATE users SET last_assigned_at = now() WHERE id = $1`, *userID)
	}
	return notFoundOrNil(err, "touch operator")
}

// SetDepartment moves a dialog to a department (back to its queue).
func SetDepartment(ctx context.Context, db DB, dialogID int64, departmentID *int64) error {
	_, err := db.Exec(ctx, `UPDATE dialogs SET department_id = $2, assignee_id = NULL, queued_at = now() WHERE id = $1`, dialogID, departmentID)
	return notFoundOrNil(err, "set department")
}

// QueueCursor is a position in the queue's order (queued_at, id).
type QueueCursor struct {
	QueuedAt time.Time
	ID       int64
}

// Queued is one waiting dialog.
type Queued struct {
	ID           int64
	DepartmentID *int64
	Cursor       QueueCursor
}

// QueuedDialogs returns the oldest queued dialogs after the cursor (zero: from the start)
// of the given departments, and those without a department when noDepartment is set.
func QueuedDialogs(ctx context.Context, db DB, after QueueCursor, deps []int64, noDepartment bool, limit int) ([]Queued, error) {
	rows, err := db.Query(ctx, `SELECT id, department_id, queued_at FROM dialogs
		WHERE status = 'open' AND assignee_id IS NULL AND (queued_at, id) > ($1, $2)
			AND (department_id = ANY($4::bigint[]) OR ($5 AND department_id IS NULL))
		ORDER BY queued_at, id LIMIT $3`, after.QueuedAt, after.ID, limit, deps, noDepartment)
	if err != nil {
		return nil, notFound(err, "queued dialogs")
	}
	defer rows.Close()
	var out []Queued
	for rows.Next() {
		var q Queued
		if err := rows.Scan(&q.ID, &q.DepartmentID, &q.Cursor.QueuedAt); err != nil {
			return nil, notFound(err, "scan queued")
		}
		q.Cursor.ID = q.ID
		out = append(out, q)
	}
	return out, notFoundOrNil(rows.Err(), "queued dialogs")
}

// MarkOfflineReplySent flips the once-per-dialog flag; false when it was already set.
func MarkOfflineReplySent(ctx context.Context, db DB, dialogID int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE dialogs SET offline_reply_sent = true WHERE id = $1 AND NOT offline_reply_sent`, dialogID)
	if err != nil {
		return false, notFound(err, "mark offline reply")
	}
	return tag.RowsAffected() == 1, nil
}

// CloseDialog closes an open dialog; false when it was not open.
func CloseDialog(ctx context.Context, db DB, dialogID int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE dialogs SET status = 'closed', closed_at = now() WHERE id = $1 AND status = 'open'`, dialogID)
	if err != nil {
		return false, notFound(err, "close dialog")
	}
	return tag.RowsAffected() == 1, nil
}

// AddParticipant invites a colleague; false when already in.
func AddParticipant(ctx context.Context, db DB, dialogID, userID int64) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO dialog_participants (dialog_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, dialogID, userID)
	if err != nil {
		return false, notFound(err, "add participant")
	}
	return tag.RowsAffected() == 1, nil
}

// RemoveParticipant removes a colleague; false when not in.
func RemoveParticipant(ctx context.Context, db DB, dialogID, userID int64) (bool, error) {
	tag, err := db.Exec(ctx, `DELETE FROM dialog_participants WHERE dialog_id = $1 AND user_id = $2`, dialogID, userID)
	if err != nil {
		return false, notFound(err, "remove participant")
	}
	return tag.RowsAffected() == 1, nil
}

// IdleDialogs returns open dialogs without activity since before.
func IdleDialogs(ctx context.Context, db DB, before time.Time, limit int) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM dialogs WHERE status = 'open' AND last_activity_at < $1 ORDER BY last_activity_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, notFound(err, "idle dialogs")
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "scan idle")
		}
		ids = append(ids, id)
	}
	return ids, notFoundOrNil(rows.Err(), "idle dialogs")
}
