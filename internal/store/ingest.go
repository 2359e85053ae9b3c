package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ingest of an incoming message in two statements instead of five (docs/performance.md):
// IngestLookup checks the platform id, upserts the sender and finds their open dialog;
// InsertInMessage stores the message and touches its dialog. Each round trip costs both
// sides a socket write, a read and a wake-up, and PostgreSQL a statement execution.

// IngestFound is what IngestLookup found.
type IngestFound struct {
	Duplicate bool    // the platform message id is stored already: nothing was changed
	Visitor   Visitor // the upserted sender (unless Duplicate)
	Dialog    *Dialog // the sender's open dialog, nil when there is none
}

// IngestLookup reports whether (channel, externalID) is stored already — if so it changes
// nothing — and otherwise upserts the visitor like UpsertVisitor and returns their open
// dialog as OpenDialog would find it. An empty externalID is never a duplicate.
func IngestLookup(ctx context.Context, db DB, v VisitorUpsert, externalID string) (IngestFound, error) {
	return scanIngestLookup(db.QueryRow(ctx, ingestLookupSQL, ingestLookupArgs(v, externalID)...), v)
}

// QueueIngestLookup queues IngestLookup on b (pipelined with the batch's other statements);
// *out is set when the batch's results are read.
func QueueIngestLookup(b *pgx.Batch, v VisitorUpsert, externalID string, out *IngestFound) {
	b.Queue(ingestLookupSQL, ingestLookupArgs(v, externalID)...).QueryRow(func(row pgx.Row) error {
		var err error
		*out, err = scanIngestLookup(row, v)
		return err
	})
}

func ingestLookupArgs(v VisitorUpsert, externalID string) []any {
	var ext *string
	if externalID != "" {
		ext = &externalID
	}
	return []any{v.ChannelID, v.ExternalID, v.ChatID, v.FirstName, v.LastName, v.Username, v.Phone, v.Email, v.Lang, ext}
}

// The upsert is an INSERT … SELECT … WHERE NOT dup, so a duplicate touches no row. The
// dialog is read by the outer query with the statement's snapshot: a dialog a concurrent
// transaction opens later is not seen, and the caller's OpenDialog converges on it.
const ingestLookupSQL = `WITH dup AS (
		SELECT EXISTS (SELECT 1 FROM messages WHERE channel_id = $1 AND external_id = $10) AS yes
	), v AS (
		INSERT INTO visitors (channel_id, external_id, chat_id, first_name, last_name, username, phone, email, language)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE NOT (SELECT yes FROM dup)
		` + visitorUpsertTail + ` AS inserted
	)
	SELECT dup.yes, v.id, v.channel_id, v.external_id, v.chat_id, v.first_name, v.last_name, v.username, v.phone, v.email, v.language,
		v.avatar_file_id, v.info_loaded_at, v.client_id, v.unreachable, v.first_contact_sent, v.created_at, v.inserted,
		d.id, d.department_id, d.assignee_id, d.status, d.created_at, d.offline_reply_sent,
		CASE WHEN d.id IS NOT NULL THEN coalesce((SELECT array_agg(user_id) FROM dialog_participants p WHERE p.dialog_id = d.id), '{}') END
	FROM dup LEFT JOIN v ON true LEFT JOIN dialogs d ON d.visitor_id = v.id AND d.status = 'open'`

func scanIngestLookup(row pgx.Row, v VisitorUpsert) (IngestFound, error) {
	var out IngestFound
	// Every column but dup is NULL for a duplicate (the upsert returned no row).
	var (
		visitorID, channelID, dID, dDept, dAssignee       *int64
		vv                                                Visitor
		inserted, dOffline, unreachable, firstContact     *bool
		dStatus, extOut                                   *string
		chatID, first, last, username, phone, email, lang *string
		dCreated, createdAt                               *time.Time
		dParts                                            []int64
	)
	err := row.Scan(&out.Duplicate, &visitorID, &channelID, &extOut, &chatID, &first, &last, &username, &phone, &email, &lang,
		&vv.AvatarFileID, &vv.InfoLoadedAt, &vv.ClientID, &unreachable, &firstContact, &createdAt, &inserted,
		&dID, &dDept, &dAssignee, &dStatus, &dCreated, &dOffline, &dParts)
	if err != nil {
		return out, notFound(err, "ingest lookup")
	}
	if out.Duplicate {
		return out, nil
	}
	vv.ID, vv.ChannelID, vv.ExternalID = deref(visitorID), deref(channelID), deref(extOut)
	vv.ChatID, vv.FirstName, vv.LastName, vv.Username = deref(chatID), deref(first), deref(last), deref(username)
	vv.Phone, vv.Email, vv.Language = deref(phone), deref(email), deref(lang)
	vv.Unreachable, vv.FirstContactSent, vv.CreatedAt, vv.Inserted = deref(unreachable), deref(firstContact), deref(createdAt), deref(inserted)
	out.Visitor = vv
	if dID != nil {
		if dParts == nil {
			dParts = []int64{}
		}
		out.Dialog = &Dialog{ID: *dID, ChannelID: v.ChannelID, VisitorID: vv.ID, DepartmentID: dDept, AssigneeID: dAssignee,
			Status: deref(dStatus), CreatedAt: deref(dCreated), OfflineReplySent: deref(dOffline), Participants: dParts}
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// InsertInMessage inserts an incoming message like InsertMessage and, when it was inserted,
// touches its dialog like TouchDialog(…, fromVisitor=true, the message's time) in the same
// statement. A conflict inserts and touches nothing and returns inserted=false.
func InsertInMessage(ctx context.Context, db DB, m *Message, preview string) (inserted bool, err error) {
	return scanInsertIn(db.QueryRow(ctx, insertInSQL, insertInArgs(m, preview)...), m)
}

// QueueInsertInMessage queues InsertInMessage on b; m and *inserted are set when the batch's
// results are read.
func QueueInsertInMessage(b *pgx.Batch, m *Message, preview string, inserted *bool) {
	b.Queue(insertInSQL, insertInArgs(m, preview)...).QueryRow(func(row pgx.Row) error {
		var err error
		*inserted, err = scanInsertIn(row, m)
		return err
	})
}

const insertInSQL = `WITH m AS (
		INSERT INTO messages (dialog_id, channel_id, direction, kind, external_id, text, attachments, reply_to, status, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()))
		ON CONFLICT DO NOTHING RETURNING id, created_at
	), t AS (
		UPDATE dialogs SET last_message_at = greatest(last_message_at, m.created_at), last_message_preview = $12,
			last_activity_at = now(), unread = unread + 1
		FROM m WHERE dialogs.id = $1
	)
	SELECT id, created_at FROM m`

func insertInArgs(m *Message, preview string) []any {
	m.setDefaults()
	return []any{m.DialogID, m.ChannelID, m.Direction, m.Kind, m.ExternalID, m.Text, jsonOf(m.Attachments), m.ReplyTo, m.Status,
		[]byte(m.Data), nullTime(m.CreatedAt), Preview(preview)}
}

func scanInsertIn(row pgx.Row, m *Message) (bool, error) {
	err := row.Scan(&m.ID, &m.CreatedAt)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, notFound(err, "insert message")
	}
	return true, nil
}

// QueueCreateDialog queues the opening of a dialog for a visitor who had no open one (as
// IngestLookup found): the INSERT of OpenDialog without its SELECT first. *created is false
// when a concurrent transaction opened one meanwhile; then OpenDialog finds it.
func QueueCreateDialog(b *pgx.Batch, channelID, visitorID int64, departmentID *int64, d *Dialog, created *bool) {
	b.Queue(`INSERT INTO dialogs (channel_id, visitor_id, department_id) VALUES ($1, $2, $3)
		ON CONFLICT (visitor_id) WHERE status = 'open' DO NOTHING
		RETURNING id, department_id, status, created_at`, channelID, visitorID, departmentID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&d.ID, &d.DepartmentID, &d.Status, &d.CreatedAt)
		if isNoRows(err) {
			*created = false
			return nil
		}
		if err != nil {
			return notFound(err, "open dialog")
		}
		*created = true
		d.ChannelID, d.VisitorID, d.Created, d.Participants = channelID, visitorID, true, []int64{}
		return nil
	})
}
