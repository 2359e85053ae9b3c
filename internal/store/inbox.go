package store

import "context"

// InboxCounts are the numbers on the inbox tabs.
type InboxCounts struct {
	Mine  int `json:"mine"`  // open dialogs assigned to or shared with the user
	Queue int `json:"queue"` // open, unassigned dialogs the user may see
	Open  int `json:"open"`  // every open dialog the user may see
	// Unread is the number of unread visitor messages in the user's own open dialogs.
	Unread int `json:"unread"`
}

// CountInbox counts open dialogs for userID. viewer limits them to what that operator may
// see (nil for admins, who see everything).
func CountInbox(ctx context.Context, db DB, userID int64, viewer *int64) (InboxCounts, error) {
	var c InboxCounts
	vis := "true"
	args := []any{userID}
	if viewer != nil {
		args = append(args, *viewer)
		vis = VisibleTo("d", "$2")
	}
	mine := `(d.assignee_id = $1 OR EXISTS (SELECT 1 FROM dialog_participants p WHERE p.dialog_id = d.id AND p.user_id = $1))`
	err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE `+mine+`),
		count(*) FILTER (WHERE d.assignee_id IS NULL),
		count(*),
		coalesce(sum(d.unread) FILTER (WHERE `+mine+`), 0)
		FROM dialogs d WHERE d.status = 'open' AND `+vis, args...).Scan(&c.Mine, &c.Queue, &c.Open, &c.Unread)
	return c, notFoundOrNil(err, "count inbox")
}

// MarkDialogRead clears the dialog's unread counter; it reports whether it changed.
func MarkDialogRead(ctx context.Context, db DB, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE dialogs SET unread = 0 WHERE id = $1 AND unread <> 0`, id)
	if err != nil {
		return false, notFound(err, "mark dialog read")
	}
	return tag.RowsAffected() > 0, nil
}

// HasPresence reports whether userID has a presence row for instance.
func HasPresence(ctx context.Context, db DB, userID int64, instance string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM presence WHERE user_id = $1 AND instance = $2)`, userID, instance).Scan(&ok)
	return ok, notFoundOrNil(err, "has presence")
}
