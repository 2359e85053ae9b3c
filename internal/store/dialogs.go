package store

import (
	"context"
	"encoding/json"
	"errors"

	"fmt"
	"github.com/jackc/pgx/v5"
	"strings"
	"time"
)

// Visitor is a customer on one channel.
type Visitor struct {
	ID               int64      `json:"id"`
	ChannelID        int64      `json:"channel_id"`
	ExternalID       string     `json:"external_id"`
	ChatID           string     `json:"-"`
	FirstName        string     `json:"first_name"`
	LastName         string     `json:"last_name"`
	Username         string     `json:"username"`
	Phone            string     `json:"phone"`
	Email            string     `json:"email"`
	Language         string     `json:"language"`
	AvatarFileID     *int64     `json:"avatar_file_id"`
	InfoLoadedAt     *time.Time `json:"-"`
	ClientID         *int64     `json:"client_id"`
	Unreachable      bool       `json:"unreachable"`
	FirstContactSent bool       `json:"-"`
	CreatedAt        time.Time  `json:"created_at"`
	Inserted         bool       `json:"-"` // set by UpsertVisitor when the row is new
}

// VisitorUpsert is what an incoming event says about its sender.
type VisitorUpsert struct {
	ChannelID                                         int64
	ExternalID, ChatID                                string
	FirstName, LastName, Username, Phone, Email, Lang string
}

// visitorUpsertTail refreshes a known visitor with what the platform told us (empty values
// never overwrite known ones) and returns the row with whether it was inserted.
const visitorUpsertTail = `ON CONFLICT (channel_id, external_id) DO UPDATE SET
			chat_id = CASE WHEN excluded.chat_id <> '' THEN excluded.chat_id ELSE visitors.chat_id END,
			first_name = CASE WHEN excluded.first_name <> '' THEN excluded.first_name ELSE visitors.first_name END,
			last_name = CASE WHEN excluded.last_name <> '' THEN excluded.last_name ELSE visitors.last_name END,
			username = CASE WHEN excluded.username <> '' THEN excluded.username ELSE visitors.username END,
			phone = CASE WHEN excluded.phone <> '' THEN excluded.phone ELSE visitors.phone END,
			email = CASE WHEN excluded.email <> '' THEN excluded.email ELSE visitors.email END,
			language = CASE WHEN excluded.language <> '' THEN excluded.language ELSE visitors.language END,
			last_seen_at = now()
		RETURNING id, channel_id, external_id, chat_id, first_name, last_name, username, phone, email, language,
			avatar_file_id, info_loaded_at, client_id, unreachable, first_contact_sent, created_at, (xmax = 0)`

// UpsertVisitor inserts the visitor or refreshes what the platform told us (empty values
// never overwrite known ones).
func UpsertVisitor(ctx context.Context, db DB, v VisitorUpsert) (Visitor, error) {
	var out Visitor
	err := db.QueryRow(ctx, `INSERT INTO visitors (channel_id, external_id, chat_id, first_name, last_name, username, phone, email, language)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) `+visitorUpsertTail,
		v.ChannelID, v.ExternalID, v.ChatID, v.FirstName, v.LastName, v.Username, v.Phone, v.Email, v.Lang).Scan(
		&out.ID, &out.ChannelID, &out.ExternalID, &out.ChatID, &out.FirstName, &out.LastName, &out.Username, &out.Phone, &out.Email, &out.Language,
		&out.AvatarFileID, &out.InfoLoadedAt, &out.ClientID, &out.Unreachable, &out.FirstContactSent, &out.CreatedAt, &out.Inserted)
	return out, notFoundOrNil(err, "upsert visitor")
}

const visitorCols = `id, channel_id, external_id, chat_id, first_name, last_name, username, phone, email, language,
	avatar_file_id, info_loaded_at, client_id, unreachable, first_contact_sent, created_at`

func scanVisitor(row interface{ Scan(...any) error }, v *Visitor) error {
	return row.Scan(&v.ID, &v.ChannelID, &v.ExternalID, &v.ChatID, &v.FirstName, &v.LastName, &v.Username, &v.Phone, &v.Email, &v.Language,
		&v.AvatarFileID, &v.InfoLoadedAt, &v.ClientID, &v.Unreachable, &v.FirstContactSent, &v.CreatedAt)
}

// VisitorByID returns a visitor.
func VisitorByID(ctx context.Context, db DB, id int64) (Visitor, error) {
	var v Visitor
	if err := scanVisitor(db.QueryRow(ctx, `SELECT `+visitorCols+` FROM visitors WHERE id = $1`, id), &v); err != nil {
		return v, notFound(err, "visitor")
	}
	return v, nil
}

// VisitorByExternal returns a visitor by platform id.
func VisitorByExternal(ctx context.Context, db DB, channelID int64, externalID string) (Visitor, error) {
	var v Visitor
	if err := scanVisitor(db.QueryRow(ctx, `SELECT `+visitorCols+` FROM visitors WHERE channel_id = $1 AND external_id = $2`, channelID, externalID), &v); err != nil {
		return v, notFound(err, "visitor")
	}
	return v, nil
}

// SetVisitorReachable records that a visitor blocked (false) or unblocked (true) the bot.
func SetVisitorReachable(ctx context.Context, db DB, channelID int64, externalID string, reachable bool) error {
	_, err := db.Exec(ctx, `UPDATE visitors SET unreachable = $3 WHERE channel_id = $1 AND external_id = $2`, channelID, externalID, !reachable)
	return notFoundOrNil(err, "set visitor reachable")
}

// SetVisitorInfo stores loaded names and avatar.
func SetVisitorInfo(ctx context.Context, db DB, id int64, first, last, username, phone string, avatar *int64) error {
	_, err := db.Exec(ctx, `UPDATE visitors SET
		first_name = CASE WHEN $2 <> '' THEN $2 ELSE first_name END,
		last_name = CASE WHEN $3 <> '' THEN $3 ELSE last_name END,
		username = CASE WHEN $4 <> '' THEN $4 ELSE username END,
		phone = CASE WHEN $5 <> '' AND phone = '' THEN $5 ELSE phone END,
		avatar_file_id = coalesce($6, avatar_file_id),
		info_loaded_at = now()
		WHERE id = $1`, id, first, last, username, phone, avatar)
	return notFoundOrNil(err, "set visitor info")
}

// MarkFirstContactSent flips the once-per-visitor flag; false when it was already set.
func MarkFirstContactSent(ctx context.Context, db DB, visitorID int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE visitors SET first_contact_sent = true WHERE id = $1 AND NOT first_contact_sent`, visitorID)
	if err != nil {
		return false, notFound(err, "mark first contact")
	}
	return tag.RowsAffected() == 1, nil
}

// Dialog is one conversation of a visitor.
type Dialog struct {
	ID               int64      `json:"id"`
	ChannelID        int64      `json:"channel_id"`
	ChannelKind      string     `json:"channel_kind"`
	ChannelName      string     `json:"channel_name"`
	VisitorID        int64      `json:"visitor_id"`
	DepartmentID     *int64     `json:"department_id"`
	Status           string     `json:"status"`
	AssigneeID       *int64     `json:"assignee_id"`
	CreatedAt        time.Time  `json:"created_at"`
	QueuedAt         time.Time  `json:"queued_at"`
	ClosedAt         *time.Time `json:"closed_at"`
	LastMessageAt    time.Time  `json:"last_message_at"`
	LastMessage      string     `json:"last_message"`
	LastActivityAt   time.Time  `json:"-"`
	Unread           int        `json:"unread"`
	OfflineReplySent bool       `json:"-"`
	Participants     []int64    `json:"participants"`
	Visitor          Visitor    `json:"visitor"`
	Created          bool       `json:"-"` // set by OpenDialog when it opened a new one
}

// OpenDialog returns the visitor's open dialog, opening one when there is none. Concurrent
// callers converge on one dialog through the unique index on open dialogs.
func OpenDialog(ctx context.Context, db DB, channelID, visitorID int64, departmentID *int64) (Dialog, error) {
	var d Dialog
	for attempt := 0; attempt < 3; attempt++ {
		err := db.QueryRow(ctx, `SELECT id, department_id, assignee_id, status, created_at, offline_reply_sent,
			coalesce((SELECT array_agg(user_id) FROM dialog_participants p WHERE p.dialog_id = d.id), '{}')
			FROM dialogs d WHERE visitor_id = $1 AND status = 'open'`, visitorID).Scan(
			&d.ID, &d.DepartmentID, &d.AssigneeID, &d.Status, &d.CreatedAt, &d.OfflineReplySent, &d.Participants)
		if err == nil {
			d.ChannelID, d.VisitorID = channelID, visitorID
			return d, nil
		}
		if !isNoRows(err) {
			return d, notFound(err, "find open dialog")
		}
		err = db.QueryRow(ctx, `INSERT INTO dialogs (channel_id, visitor_id, department_id) VALUES ($1, $2, $3)
			ON CONFLICT (visitor_id) WHERE status = 'open' DO NOTHING
			RETURNING id, department_id, status, created_at`, channelID, visitorID, departmentID).Scan(&d.ID, &d.DepartmentID, &d.Status, &d.CreatedAt)
		if err == nil {
			d.ChannelID, d.VisitorID, d.Created, d.Participants = channelID, visitorID, true, []int64{}
			return d, nil
		}
		if !isNoRows(err) {
			return d, notFound(err, "open dialog")
		}
		// Another transaction opened it between our SELECT and INSERT: read it again.
	}
	return d, fmt.Errorf("open dialog for visitor %d: lost the race three times", visitorID)
}

// VisitorHadDialogBefore reports whether the visitor had a dialog before dialogID.
func VisitorHadDialogBefore(ctx context.Context, db DB, visitorID, dialogID int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dialogs WHERE visitor_id = $1 AND id < $2)`, visitorID, dialogID).Scan(&ok)
	return ok, notFoundOrNil(err, "earlier dialog")
}

// TouchDialog records a new message on the dialog: preview, time, unread counter.
func TouchDialog(ctx context.Context, db DB, dialogID int64, preview string, fromVisitor bool, at time.Time) error {
	preview = Preview(preview)
	_, err := db.Exec(ctx, `UPDATE dialogs SET last_message_at = greatest(last_message_at, $2), last_message_preview = $3,
		last_activity_at = now(), unread = CASE WHEN $4 THEN unread + 1 ELSE 0 END WHERE id = $1`, dialogID, at, preview, fromVisitor)
	return notFoundOrNil(err, "touch dialog")
}

// TouchDialogAuto records an automatic text (first contact, operators offline, closing):
// it shows in the list but is nobody's activity and reads nothing, so neither the unread
// counter nor the auto-close clock changes.
func TouchDialogAuto(ctx context.Context, db DB, dialogID int64, preview string, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE dialogs SET last_message_at = greatest(last_message_at, $2), last_message_preview = $3 WHERE id = $1`,
		dialogID, at, Preview(preview))
	return notFoundOrNil(err, "touch dialog")
}

// Preview shortens a text for the dialog list.
func Preview(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 140 {
		return string(r[:140]) + "…"
	}
	return s
}

const dialogSelect = `SELECT d.id, d.channel_id, c.kind, c.name, d.visitor_id, d.department_id, d.status, d.assignee_id, d.created_at, d.queued_at, d.closed_at,
	d.last_message_at, d.last_message_preview, d.last_activity_at, d.unread, d.offline_reply_sent,
	coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM dialog_participants p WHERE p.dialog_id = d.id), '{}'),
	v.id, v.channel_id, v.external_id, v.chat_id, v.first_name, v.last_name, v.username, v.phone, v.email, v.language,
	v.avatar_file_id, v.info_loaded_at, v.client_id, v.unreachable, v.first_contact_sent, v.created_at
	FROM dialogs d JOIN visitors v ON v.id = d.visitor_id JOIN channels c ON c.id = d.channel_id`

func scanDialog(row interface{ Scan(...any) error }, d *Dialog) error {
	v := &d.Visitor
	return row.Scan(&d.ID, &d.ChannelID, &d.ChannelKind, &d.ChannelName, &d.VisitorID, &d.DepartmentID, &d.Status, &d.AssigneeID, &d.CreatedAt, &d.QueuedAt, &d.ClosedAt,
		&d.LastMessageAt, &d.LastMessage, &d.LastActivityAt, &d.Unread, &d.OfflineReplySent, &d.Participants,
		&v.ID, &v.ChannelID, &v.ExternalID, &v.ChatID, &v.FirstName, &v.LastName, &v.Username, &v.Phone, &v.Email, &v.Language,
		&v.AvatarFileID, &v.InfoLoadedAt, &v.ClientID, &v.Unreachable, &v.FirstContactSent, &v.CreatedAt)
}

// DialogByID returns a dialog with its visitor.
func DialogByID(ctx context.Context, db DB, id int64) (Dialog, error) {
	var d Dialog
	if err := scanDialog(db.QueryRow(ctx, dialogSelect+` WHERE d.id = $1`, id), &d); err != nil {
		return d, notFound(err, "dialog")
	}
	return d, nil
}

// DialogFilter selects dialogs for a list. Viewer limits the result to what that user may
// see (nil = everything, for admins).
type DialogFilter struct {
	Status     string // open, closed or "" for both
	Assigned   string // "me", "none" (the queue), "" (any)
	UserID     int64  // the caller (for "me")
	Viewer     *int64 // restrict to dialogs this operator may see
	ChannelID  int64
	ClientID   int64  // dialogs of the visitors linked to this client record
	Query      string // text in messages, visitor name, phone
	BeforeTime time.Time
	BeforeID   int64
	Limit      int
}

// ListDialogs returns dialogs newest activity first, keyset-paginated by (last_message_at, id).
func ListDialogs(ctx context.Context, db DB, f DialogFilter) ([]Dialog, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Status != "" {
		where = append(where, "d.status = "+arg(f.Status))
	}
	switch f.Assigned {
	case "me":
		where = append(where, "(d.assignee_id = "+arg(f.UserID)+" OR EXISTS (SELECT 1 FROM dialog_participants p WHERE p.dialog_id = d.id AND p.user_id = "+arg(f.UserID)+"))")
	case "none":
		where = append(where, "d.assignee_id IS NULL")
	}
	if f.Viewer != nil {
		where = append(where, VisibleTo("d", arg(*f.Viewer)))
	}
	if f.ChannelID != 0 {
		where = append(where, "d.channel_id = "+arg(f.ChannelID))
	}
	if f.ClientID != 0 {
		where = append(where, "v.client_id = "+arg(f.ClientID))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		like := arg("%" + escapeLike(q) + "%")
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, q)
		cond := "(v.first_name || ' ' || v.last_name) ILIKE " + like + " OR v.username ILIKE " + like +
			" OR EXISTS (SELECT 1 FROM messages m WHERE m.dialog_id = d.id AND to_tsvector('simple', m.text) @@ plainto_tsquery('simple', " + arg(q) + "))"
		if len(digits) >= 5 {
			cond += " OR v.phone LIKE " + arg("%"+digits+"%")
		}
		where = append(where, "("+cond+")")
	}
	if !f.BeforeTime.IsZero() {
		where = append(where, "(d.last_message_at, d.id) < ("+arg(f.BeforeTime)+", "+arg(f.BeforeID)+")")
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	sql := dialogSelect
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY d.last_message_at DESC, d.id DESC LIMIT " + arg(f.Limit)
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, notFound(err, "list dialogs")
	}
	defer rows.Close()
	out := []Dialog{}
	for rows.Next() {
		var d Dialog
		if err := scanDialog(rows, &d); err != nil {
			return nil, notFound(err, "scan dialog")
		}
		out = append(out, d)
	}
	return out, notFoundOrNil(rows.Err(), "list dialogs")
}

// VisibleTo is the SQL condition for "operator $user may see dialog alias": assigned to
// them, shared with them, or in one of their departments (or no department at all).
func VisibleTo(alias, user string) string {
	return fmt.Sprintf(`(%[1]s.assignee_id = %[2]s
		OR EXISTS (SELECT 1 FROM dialog_participants p WHERE p.dialog_id = %[1]s.id AND p.user_id = %[2]s)
		OR %[1]s.department_id IS NULL
		OR EXISTS (SELECT 1 FROM department_members m WHERE m.department_id = %[1]s.department_id AND m.user_id = %[2]s))`, alias, user)
}

// CanSee reports whether operator userID may see dialog id.
func CanSee(ctx context.Context, db DB, dialogID, userID int64) (bool, error) {
	var ok bool
	// coalesce: for a queued dialog "assignee_id = $2" is NULL, and NULL OR false is NULL.
	err := db.QueryRow(ctx, `SELECT coalesce(`+VisibleTo("d", "$2::bigint")+`, false) FROM dialogs d WHERE d.id = $1`, dialogID, userID).Scan(&ok)
	if err != nil {
		return false, notFound(err, "can see dialog")
	}
	return ok, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// jsonOf marshals v for a jsonb parameter.
func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // only our own types reach here
	}
	return b
}
