package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Notify sends each payload on a notification channel with pg_notify. Inside a
// transaction they are delivered at commit and dropped on rollback.
func Notify(ctx context.Context, db DB, channel string, payloads []string) error {
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, channel, payloads); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Listen subscribes conn to a notification channel (a fixed identifier, not user input).
func Listen(ctx context.Context, conn *pgx.Conn, channel string) error {
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	return nil
}

// UsersWhoMaySee lists the active users who may see a change: everyone (resyncs and
// operator changes), admins, the addressed user, the assignee, the participants, and — for
// a dialog — the members of its department (everyone active when it has none). The same
// rule as the SSE hub's, for transports that address users by id (comet-server.ru).
func UsersWhoMaySee(ctx context.Context, db DB, everyone bool, userID int64, assignee *int64, participants []int64, dialog bool, department *int64) ([]int64, error) {
	if participants == nil {
		participants = []int64{}
	}
	rows, err := db.Query(ctx, `SELECT u.id FROM users u WHERE u.active AND (
		$1 OR u.role = 'admin' OR u.id = $2 OR u.id = $3 OR u.id = ANY($4::bigint[])
		OR ($5 AND $6::bigint IS NULL)
		OR ($5 AND EXISTS (SELECT 1 FROM department_members m WHERE m.department_id = $6 AND m.user_id = u.id)))
		ORDER BY u.id`, everyone, userID, assignee, participants, dialog, department)
	if err != nil {
		return nil, fmt.Errorf("users who may see: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
