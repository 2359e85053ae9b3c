package store

import (
	"context"
	"encoding/json"
	"time"
)

// Attachment is a stored attachment: what the platform said plus our file once downloaded.
type Attachment struct {
	Kind     string  `json:"kind"`
	Name     string  `json:"name,omitempty"`
	MIME     string  `json:"mime,omitempty"`
	Size     int64   `json:"size,omitempty"`
	FileID   int64   `json:"file_id,omitempty"`
	Lat      float64 `json:"lat,omitempty"`
	Lon      float64 `json:"lon,omitempty"`
	Phone    string  `json:"phone,omitempty"`
	Contact  string  `json:"contact,omitempty"`
	Error    string  `json:"error,omitempty"` // why the download failed
	URL      string  `json:"-"`               // kept only in the download job's arguments
	Ref      string  `json:"-"`
	Pending  bool    `json:"pending,omitempty"` // download not finished yet
	OwnPhone bool    `json:"-"`
}

// Edit is a previous text of an edited message.
type Edit struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Message is one entry in a dialog's history.
type Message struct {
	ID             int64           `json:"id"`
	DialogID       int64           `json:"dialog_id"`
	ChannelID      int64           `json:"channel_id"`
	Direction      string          `json:"direction"`
	Kind           string          `json:"kind"`
	AuthorID       *int64          `json:"author_id"`
	Auto           bool            `json:"auto"`
	ExternalID     *string         `json:"-"`
	Text           string          `json:"text"`
	Edits          []Edit          `json:"edits"`
	Attachments    []Attachment    `json:"attachments"`
	Buttons        json.RawMessage `json:"buttons,omitempty"`
	ReplyTo        string          `json:"reply_to,omitempty"`
	Status         string          `json:"status"`
	Error          string          `json:"error,omitempty"`
	IdempotencyKey *string         `json:"-"`
	Data           json.RawMessage `json:"data,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	SentAt         *time.Time      `json:"sent_at,omitempty"`
	EditedAt       *time.Time      `json:"edited_at,omitempty"`
	DeletedAt      *time.Time      `json:"deleted_at,omitempty"`
}

const messageCols = `id, dialog_id, channel_id, direction, kind, author_id, auto, external_id, text, edits, attachments, buttons, reply_to,
	status, error, idempotency_key, data, created_at, sent_at, edited_at, deleted_at`

func scanMessage(row interface{ Scan(...any) error }, m *Message) error {
	var edits, atts []byte
	var data []byte
	if err := row.Scan(&m.ID, &m.DialogID, &m.ChannelID, &m.Direction, &m.Kind, &m.AuthorID, &m.Auto, &m.ExternalID, &m.Text, &edits, &atts, &m.Buttons, &m.ReplyTo,
		&m.Status, &m.Error, &m.IdempotencyKey, &data, &m.CreatedAt, &m.SentAt, &m.EditedAt, &m.DeletedAt); err != nil {
		return err
	}
	m.Data = data
	if err := json.Unmarshal(edits, &m.Edits); err != nil {
		return err
	}
	return json.Unmarshal(atts, &m.Attachments)
}

// MessageExists reports whether an external id is already stored on the channel.
func MessageExists(ctx context.Context, db DB, channelID int64, externalID string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE channel_id = $1 AND external_id = $2)`, channelID, externalID).Scan(&ok)
	return ok, notFoundOrNil(err, "message exists")
}

// setDefaults fills what an insert needs and a caller may leave out.
func (m *Message) setDefaults() {
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
	if m.Data == nil {
		m.Data = json.RawMessage(`{}`)
	}
	if m.Status == "" {
		m.Status = "received"
	}
	if m.Kind == "" {
		m.Kind = "message"
	}
}

// InsertMessage inserts m. With an external id a conflict (a platform retry, or an
// idempotency key seen before) inserts nothing and returns inserted=false.
func InsertMessage(ctx context.Context, db DB, m *Message) (inserted bool, err error) {
	m.setDefaults()
	var buttons any
	if len(m.Buttons) > 0 {
		buttons = []byte(m.Buttons)
	}
	err = db.QueryRow(ctx, `INSERT INTO messages (dialog_id, channel_id, direction, kind, author_id, auto, external_id, text, attachments, buttons, reply_to, status, idempotency_key, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, coalesce($15, now()))
		ON CONFLICT DO NOTHING RETURNING id, created_at`,
		m.DialogID, m.ChannelID, m.Direction, m.Kind, m.AuthorID, m.Auto, m.ExternalID, m.Text, jsonOf(m.Attachments), buttons, m.ReplyTo, m.Status,
		m.IdempotencyKey, []byte(m.Data), nullTime(m.CreatedAt)).Scan(&m.ID, &m.CreatedAt)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, notFound(err, "insert message")
	}
	return true, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MessageByIdempotencyKey finds the message a repeated request created.
func MessageByIdempotencyKey(ctx context.Context, db DB, dialogID int64, key string) (Message, error) {
	var m Message
	err := scanMessage(db.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE dialog_id = $1 AND idempotency_key = $2`, dialogID, key), &m)
	if err != nil {
		return m, notFound(err, "message by idempotency key")
	}
	return m, nil
}

// MessageByID returns a message.
func MessageByID(ctx context.Context, db DB, id int64) (Message, error) {
	var m Message
	if err := scanMessage(db.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, id), &m); err != nil {
		return m, notFound(err, "message")
	}
	return m, nil
}

// EditMessage replaces the text of an incoming message, keeping the previous one. It
// returns the message's id and dialog, or ErrNotFound; an edit repeating the current text
// (a platform retry) changes nothing and returns changed=false.
func EditMessage(ctx context.Context, db DB, channelID int64, externalID, text string, at time.Time) (id, dialogID int64, changed bool, err error) {
	err = db.QueryRow(ctx, `WITH old AS (SELECT id, text FROM messages WHERE channel_id = $1 AND external_id = $2 FOR UPDATE)
		UPDATE messages m SET edits = m.edits || jsonb_build_array(jsonb_build_object('text', old.text, 'at', now())), text = $3, edited_at = $4
		FROM old WHERE m.id = old.id AND old.text IS DISTINCT FROM $3
		RETURNING m.id, m.dialog_id`, channelID, externalID, text, at).Scan(&id, &dialogID)
	if isNoRows(err) {
		err = db.QueryRow(ctx, `SELECT id, dialog_id FROM messages WHERE channel_id = $1 AND external_id = $2`, channelID, externalID).Scan(&id, &dialogID)
		return id, dialogID, false, notFoundOrNil(err, "edit message")
	}
	return id, dialogID, err == nil, notFoundOrNil(err, "edit message")
}

// statusRank orders delivery states so a late receipt never moves a message back.
const statusRank = `CASE status WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 4 END`

// ReceiptUpdate is one message whose delivery state a receipt moved.
type ReceiptUpdate struct{ ID, DialogID int64 }

// ApplyReceipt moves our messages (by platform ids) forward to status.
func ApplyReceipt(ctx context.Context, db DB, channelID int64, externalIDs []string, status, reason string) ([]ReceiptUpdate, error) {
	rank := map[string]int{"delivered": 2, "read": 3, "failed": 4}[status]
	return collectUpdates(db.Query(ctx, `UPDATE messages SET status = $3, error = $4
		WHERE channel_id = $1 AND external_id = ANY($2) AND direction = 'out' AND status <> 'failed' AND `+statusRank+` < $5
		RETURNING id, dialog_id`, channelID, externalIDs, status, reason, rank))
}

// ApplyWatermark marks every message sent to a visitor up to t as delivered or read.
func ApplyWatermark(ctx context.Context, db DB, channelID int64, visitorExternalID string, t time.Time, status string) ([]ReceiptUpdate, error) {
	rank := map[string]int{"delivered": 2, "read": 3}[status]
	return collectUpdates(db.Query(ctx, `UPDATE messages m SET status = $4
		FROM dialogs d JOIN visitors v ON v.id = d.visitor_id
		WHERE m.dialog_id = d.id AND v.channel_id = $1 AND v.external_id = $2 AND m.direction = 'out'
			AND m.sent_at <= $3 AND m.status IN ('sent', 'delivered') AND `+"CASE m.status WHEN 'sent' THEN 1 ELSE 2 END"+` < $5
		RETURNING m.id, m.dialog_id`, channelID, visitorExternalID, t, status, rank))
}

func collectUpdates(rows interface {
	Next() bool
	Scan(...any) error
	Close()
	Err() error
}, err error) ([]ReceiptUpdate, error) {
	if err != nil {
		return nil, notFound(err, "apply receipt")
	}
	defer rows.Close()
	var out []ReceiptUpdate
	for rows.Next() {
		var u ReceiptUpdate
		if err := rows.Scan(&u.ID, &u.DialogID); err != nil {
			return nil, notFound(err, "scan receipt")
		}
		out = append(out, u)
	}
	return out, notFoundOrNil(rows.Err(), "apply receipt")
}

// MarkSent records the platform's id for a sent message. parts (when the platform needed
// several messages for a long text) go into data.parts, so deleting the message deletes
// every part.
func MarkSent(ctx context.Context, db DB, id int64, externalID string, parts []string) error {
	var partsJSON any
	if len(parts) > 1 {
		partsJSON = jsonOf(map[string][]string{"parts": parts})
	}
	_, err := db.Exec(ctx, `UPDATE messages SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,
		external_id = $2, sent_at = now(), error = '', data = CASE WHEN $3::jsonb IS NULL THEN data ELSE data || $3::jsonb END
		WHERE id = $1`, id, externalID, partsJSON)
	return notFoundOrNil(err, "mark sent")
}

// SentParts returns the platform ids of every part of a message sent in several parts
// (nil for one part).
func SentParts(m Message) []string {
	var d struct {
		Parts []string `json:"parts"`
	}
	if len(m.Data) == 0 || json.Unmarshal(m.Data, &d) != nil {
		return nil
	}
	return d.Parts
}

// MarkFailed records why a message could not be sent.
func MarkFailed(ctx context.Context, db DB, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE messages SET status = 'failed', error = $2 WHERE id = $1`, id, reason)
	return notFoundOrNil(err, "mark failed")
}

// MarkPending puts a failed message back in the queue (the operator's retry).
func MarkPending(ctx context.Context, db DB, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE messages SET status = 'pending', error = '' WHERE id = $1 AND status = 'failed'`, id)
	if err != nil {
		return false, notFound(err, "mark pending")
	}
	return tag.RowsAffected() == 1, nil
}

// MarkDeleted records that an operator deleted a message.
func MarkDeleted(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `UPDATE messages SET deleted_at = now() WHERE id = $1`, id)
	return notFoundOrNil(err, "mark deleted")
}

// SetAttachments stores a message's attachments (after a download).
func SetAttachments(ctx context.Context, db DB, id int64, atts []Attachment) error {
	_, err := db.Exec(ctx, `UPDATE messages SET attachments = $2 WHERE id = $1`, id, jsonOf(atts))
	return notFoundOrNil(err, "set attachments")
}

// ListMessages returns a dialog's messages before id beforeID (0 = newest), newest first.
func ListMessages(ctx context.Context, db DB, dialogID, beforeID, afterID int64, limit int) ([]Message, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := `SELECT ` + messageCols + ` FROM messages WHERE dialog_id = $1 AND ($2 = 0 OR id < $2) AND id > $3`
	if afterID > 0 {
		q += ` ORDER BY id ASC LIMIT $4`
	} else {
		q += ` ORDER BY id DESC LIMIT $4`
	}
	rows, err := db.Query(ctx, q, dialogID, beforeID, afterID, limit)
	if err != nil {
		return nil, notFound(err, "list messages")
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		var m Message
		if err := scanMessage(rows, &m); err != nil {
			return nil, notFound(err, "scan message")
		}
		out = append(out, m)
	}
	return out, notFoundOrNil(rows.Err(), "list messages")
}

// CountMessages counts a channel's messages with an external id (tests, loadtest checks).
func CountMessages(ctx context.Context, db DB, channelID int64, externalID string) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE channel_id = $1 AND external_id = $2`, channelID, externalID).Scan(&n)
	return n, notFoundOrNil(err, "count messages")
}

// File is a stored blob's metadata.
type File struct {
	ID        int64     `json:"id"`
	Key       string    `json:"-"`
	Name      string    `json:"name"`
	MIME      string    `json:"mime"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateFile records a stored blob.
func CreateFile(ctx context.Context, db DB, f *File) error {
	err := db.QueryRow(ctx, `INSERT INTO files (key, name, mime, size) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
		f.Key, f.Name, f.MIME, f.Size).Scan(&f.ID, &f.CreatedAt)
	return notFoundOrNil(err, "create file")
}

// FileByID returns a file's metadata.
func FileByID(ctx context.Context, db DB, id int64) (File, error) {
	var f File
	err := db.QueryRow(ctx, `SELECT id, key, name, mime, size, created_at FROM files WHERE id = $1`, id).Scan(&f.ID, &f.Key, &f.Name, &f.MIME, &f.Size, &f.CreatedAt)
	if err != nil {
		return f, notFound(err, "file")
	}
	return f, nil
}

// FileDialogs returns the dialogs a file belongs to (as attachment or avatar), for access checks.
func FileDialogs(ctx context.Context, db DB, fileID int64) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT m.dialog_id FROM messages m
		WHERE m.attachments @> jsonb_build_array(jsonb_build_object('file_id', $1::bigint))
		UNION SELECT d.id FROM dialogs d JOIN visitors v ON v.id = d.visitor_id WHERE v.avatar_file_id = $1 LIMIT 100`, fileID)
	if err != nil {
		return nil, notFound(err, "file dialogs")
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "scan file dialog")
		}
		ids = append(ids, id)
	}
	return ids, notFoundOrNil(rows.Err(), "file dialogs")
}

// VisitorOpenDialogs returns the visitor's open dialogs (usually one), so an event about the
// visitor reaches the operators who may see them.
func VisitorOpenDialogs(ctx context.Context, db DB, visitorID int64) ([]Dialog, error) {
	rows, err := db.Query(ctx, `SELECT id FROM dialogs WHERE visitor_id = $1 AND status = 'open' ORDER BY id DESC LIMIT 10`, visitorID)
	if err != nil {
		return nil, notFound(err, "visitor dialogs")
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, notFound(err, "scan visitor dialog")
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, notFound(err, "visitor dialogs")
	}
	out := make([]Dialog, 0, len(ids))
	for _, id := range ids {
		d, err := DialogByID(ctx, db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// InboundByExternalID returns (id, external id) of a channel's inbound messages with the
// given external ids: the load test's exactly-once check.
func InboundByExternalID(ctx context.Context, db DB, channelID int64, externalIDs []string) (map[int64]string, error) {
	rows, err := db.Query(ctx, `SELECT id, external_id FROM messages
		WHERE channel_id = $1 AND direction = 'in' AND external_id = ANY($2)`, channelID, externalIDs)
	if err != nil {
		return nil, notFound(err, "inbound by external id")
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var ext string
		if err := rows.Scan(&id, &ext); err != nil {
			return nil, notFound(err, "inbound by external id")
		}
		out[id] = ext
	}
	return out, rows.Err()
}
