package store

import "context"

// VisitorMessages returns the newest messages of every dialog of one visitor, oldest
// first (the web widget's history). Operators' names come along for outbound messages.
func VisitorMessages(ctx context.Context, db DB, visitorID int64, limit int) ([]Message, map[int64]string, error) {
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	rows, err := db.Query(ctx, `SELECT * FROM (
		SELECT `+prefixed("m.", messageCols)+` FROM messages m JOIN dialogs d ON d.id = m.dialog_id
		WHERE d.visitor_id = $1 ORDER BY m.id DESC LIMIT $2) x ORDER BY id ASC`, visitorID, limit)
	if err != nil {
		return nil, nil, notFound(err, "visitor messages")
	}
	defer rows.Close()
	out := []Message{}
	authors := map[int64]string{}
	for rows.Next() {
		var m Message
		if err := scanMessage(rows, &m); err != nil {
			return nil, nil, notFound(err, "scan message")
		}
		if m.AuthorID != nil {
			authors[*m.AuthorID] = ""
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, notFound(err, "visitor messages")
	}
	for id := range authors {
		var name string
		if err := db.QueryRow(ctx, `SELECT name FROM users WHERE id = $1`, id).Scan(&name); err != nil && !isNoRows(err) {
			return nil, nil, notFound(err, "author name")
		}
		authors[id] = name
	}
	return out, authors, nil
}

// VisitorHasFile reports whether a file is attached to one of the visitor's messages.
func VisitorHasFile(ctx context.Context, db DB, visitorID, fileID int64) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages m JOIN dialogs d ON d.id = m.dialog_id
		WHERE d.visitor_id = $1 AND m.deleted_at IS NULL AND m.attachments @> jsonb_build_array(jsonb_build_object('file_id', $2::bigint)))`, visitorID, fileID).Scan(&ok)
	return ok, notFoundOrNil(err, "visitor file")
}

func prefixed(p, cols string) string {
	var out []byte
	for i, f := range splitCols(cols) {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, p+f...)
	}
	return string(out)
}

func splitCols(cols string) []string {
	var out []string
	cur := []byte{}
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		switch c {
		case ',':
			out = append(out, string(cur))
			cur = cur[:0]
		case ' ', '\n', '\t':
		default:
			cur = append(cur, c)
		}
	}
	return append(out, string(cur))
}
