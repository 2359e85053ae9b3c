package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Client is a CRM record: a client or a contact.
type Client struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Phones    []string        `json:"phones"`
	Emails    []string        `json:"emails"`
	Note      string          `json:"note"`
	Custom    json.RawMessage `json:"custom"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

const clientCols = `id, type, name, phones, emails, note, custom, created_at, updated_at`

func scanClient(row interface{ Scan(...any) error }, c *Client) error {
	var custom []byte
	err := row.Scan(&c.ID, &c.Type, &c.Name, &c.Phones, &c.Emails, &c.Note, &custom, &c.CreatedAt, &c.UpdatedAt)
	c.Custom = custom
	return err
}

// CreateClient inserts c.
func CreateClient(ctx context.Context, db DB, c *Client) error {
	if c.Custom == nil {
		c.Custom = json.RawMessage(`{}`)
	}
	err := db.QueryRow(ctx, `INSERT INTO clients (type, name, phones, emails, note, custom) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, created_at, updated_at`, c.Type, c.Name, nonNil(c.Phones), nonNil(c.Emails), c.Note, []byte(c.Custom)).Scan(&c.ID, &c.CreatedAt, &c.UpdatedAt)
	return notFoundOrNil(err, "create client")
}

// UpdateClient stores c's fields.
func UpdateClient(ctx context.Context, db DB, c *Client) error {
	if c.Custom == nil {
		c.Custom = json.RawMessage(`{}`)
	}
	tag, err := db.Exec(ctx, `UPDATE clients SET type = $2, name = $3, phones = $4, emails = $5, note = $6, custom = $7, updated_at = now()
		WHERE id = $1 AND merged_into IS NULL`, c.ID, c.Type, c.Name, nonNil(c.Phones), nonNil(c.Emails), c.Note, []byte(c.Custom))
	if err != nil {
		return notFound(err, "update client")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "update client")
	}
	return nil
}

// ClientByID returns a live (not merged away) client.
func ClientByID(ctx context.Context, db DB, id int64) (Client, error) {
	var c Client
	if err := scanClient(db.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1 AND merged_into IS NULL`, id), &c); err != nil {
		return c, notFound(err, "client")
	}
	return c, nil
}

// ClientVisibleTo is the SQL condition for "operator $user may see client alias": they may
// see a dialog of one of its visitors (the dialog list's VisibleTo), or it has no dialog at
// all (a record just typed in, before it is linked).
func ClientVisibleTo(alias, user string) string {
	return fmt.Sprintf(`(EXISTS (SELECT 1 FROM visitors cv JOIN dialogs cd ON cd.visitor_id = cv.id WHERE cv.client_id = %[1]s.id AND %[2]s)
		OR NOT EXISTS (SELECT 1 FROM visitors cv JOIN dialogs cd ON cd.visitor_id = cv.id WHERE cv.client_id = %[1]s.id))`, alias, VisibleTo("cd", user))
}

// VisibleClient returns a live client that viewer may see (nil viewer: an admin, any).
func VisibleClient(ctx context.Context, db DB, id int64, viewer *int64) (Client, error) {
	var c Client
	err := scanClient(db.QueryRow(ctx, `SELECT `+clientCols+` FROM clients c WHERE c.id = $1 AND c.merged_into IS NULL
		AND ($2::bigint IS NULL OR `+ClientVisibleTo("c", "$2::bigint")+`)`, id, viewer), &c)
	if err != nil {
		return c, notFound(err, "client")
	}
	return c, nil
}

// ClientByPhone returns the oldest live client with this E.164 phone.
func ClientByPhone(ctx context.Context, db DB, phone string) (Client, error) {
	var c Client
	err := scanClient(db.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE phones @> ARRAY[$1]::text[] AND merged_into IS NULL ORDER BY id LIMIT 1`, phone), &c)
	if err != nil {
		return c, notFound(err, "client by phone")
	}
	return c, nil
}

// SearchClients finds clients by name, phone digits or email, among those viewer may see
// (nil: all). phone is q normalized to E.164 ("" when q is not a number): "8 916 123-45-67"
// then finds +79161234567, which its digits alone would not.
func SearchClients(ctx context.Context, db DB, q, phone string, viewer *int64, limit int) ([]Client, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q = strings.TrimSpace(q)
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	rows, err := db.Query(ctx, `SELECT `+clientCols+` FROM clients c WHERE merged_into IS NULL AND ($1 = '' OR name ILIKE '%' || $2 || '%'
		OR ($3 <> '' AND array_to_string(phones, ' ') LIKE '%' || $3 || '%')
		OR ($5 <> '' AND phones @> ARRAY[$5]::text[])
		OR array_to_string(emails, ' ') ILIKE '%' || $2 || '%')
		AND ($6::bigint IS NULL OR `+ClientVisibleTo("c", "$6::bigint")+`)
		ORDER BY updated_at DESC, id DESC LIMIT $4`, q, escapeLike(q), digits, limit, phone, viewer)
	if err != nil {
		return nil, notFound(err, "search clients")
	}
	defer rows.Close()
	out := []Client{}
	for rows.Next() {
		var c Client
		if err := scanClient(rows, &c); err != nil {
			return nil, notFound(err, "scan client")
		}
		out = append(out, c)
	}
	return out, notFoundOrNil(rows.Err(), "search clients")
}

// LinkVisitor links (or with nil unlinks) a visitor to a client.
func LinkVisitor(ctx context.Context, db DB, visitorID int64, clientID *int64) error {
	tag, err := db.Exec(ctx, `UPDATE visitors SET client_id = $2 WHERE id = $1`, visitorID, clientID)
	if err != nil {
		return notFound(err, "link visitor")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "link visitor")
	}
	return nil
}

// LockVisitor locks a visitor row.
func LockVisitor(ctx context.Context, db DB, id int64) (Visitor, error) {
	var v Visitor
	if err := scanVisitor(db.QueryRow(ctx, `SELECT `+visitorCols+` FROM visitors WHERE id = $1 FOR UPDATE`, id), &v); err != nil {
		return v, notFound(err, "lock visitor")
	}
	return v, nil
}

// AddClientPhone appends phone to a live client's phones unless it is there already.
func AddClientPhone(ctx context.Context, db DB, clientID int64, phone string) error {
	_, err := db.Exec(ctx, `UPDATE clients SET phones = array_append(phones, $2), updated_at = now()
		WHERE id = $1 AND merged_into IS NULL AND NOT (phones @> ARRAY[$2]::text[])`, clientID, phone)
	return notFoundOrNil(err, "add client phone")
}

// LockPhone serializes decisions about one phone number (auto-add by phone).
func LockPhone(ctx context.Context, db DB, phone string) error {
	_, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('phone:' || $1))`, phone)
	return notFoundOrNil(err, "lock phone")
}

// MergeClients moves everything of from into into (visitors, phones, emails, note) and
// marks from merged; its row stays for history.
func MergeClients(ctx context.Context, db DB, into, from int64) error {
	if into == from {
		return fmt.Errorf("merge client into itself")
	}
	tag, err := db.Exec(ctx, `UPDATE clients i SET
		phones = ARRAY(SELECT DISTINCT unnest(i.phones || f.phones)),
		emails = ARRAY(SELECT DISTINCT unnest(i.emails || f.emails)),
		note = CASE WHEN f.note = '' THEN i.note WHEN i.note = '' THEN f.note ELSE i.note || E'\n' || f.note END,
		custom = f.custom || i.custom, updated_at = now()
		FROM clients f WHERE i.id = $1 AND f.id = $2 AND i.merged_into IS NULL AND f.merged_into IS NULL`, into, from)
	if err != nil {
		return notFound(err, "merge clients")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "merge clients")
	}
	if _, err := db.Exec(ctx, `UPDATE visitors SET client_id = $1 WHERE client_id = $2`, into, from); err != nil {
		return notFound(err, "move visitors")
	}
	_, err = db.Exec(ctx, `UPDATE clients SET merged_into = $1, updated_at = now() WHERE id = $2`, into, from)
	return notFoundOrNil(err, "mark merged")
}

// ClientVisitors lists the visitors linked to a client; for a viewer (nil: all) only those
// with a dialog the viewer may see.
func ClientVisitors(ctx context.Context, db DB, clientID int64, viewer *int64) ([]Visitor, error) {
	rows, err := db.Query(ctx, `SELECT `+visitorCols+` FROM visitors v WHERE client_id = $1
		AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM dialogs d WHERE d.visitor_id = v.id AND `+VisibleTo("d", "$2::bigint")+`))
		ORDER BY id`, clientID, viewer)
	if err != nil {
		return nil, notFound(err, "client visitors")
	}
	defer rows.Close()
	out := []Visitor{}
	for rows.Next() {
		var v Visitor
		if err := scanVisitor(rows, &v); err != nil {
			return nil, notFound(err, "scan visitor")
		}
		out = append(out, v)
	}
	return out, notFoundOrNil(rows.Err(), "client visitors")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
