package store

import "context"

// PresenceTTL is how long a heartbeat keeps an operator present.
const PresenceTTL = "45 seconds"

// SetPresence records how many streams a user has open on an instance.
func SetPresence(ctx context.Context, db DB, userID int64, instance string, connections int) error {
	var err error
	if connections <= 0 {
		_, err = db.Exec(ctx, `DELETE FROM presence WHERE user_id = $1 AND instance = $2`, userID, instance)
	} else {
		_, err = db.Exec(ctx, `INSERT INTO presence (user_id, instance, connections, seen_at) VALUES ($1, $2, $3, now())
			ON CONFLICT (user_id, instance) DO UPDATE SET connections = excluded.connections, seen_at = now()`, userID, instance, connections)
	}
	return notFoundOrNil(err, "set presence")
}

// TouchPresence refreshes every row of an instance (its heartbeat).
func TouchPresence(ctx context.Context, db DB, instance string) error {
	_, err := db.Exec(ctx, `UPDATE presence SET seen_at = now() WHERE instance = $1`, instance)
	return notFoundOrNil(err, "touch presence")
}

// ClearPresence removes an instance's rows (clean shutdown).
func ClearPresence(ctx context.Context, db DB, instance string) error {
	_, err := db.Exec(ctx, `DELETE FROM presence WHERE instance = $1`, instance)
	return notFoundOrNil(err, "clear presence")
}

// ExpiredPresenceUsers deletes stale rows (an instance that died) and returns whose they were.
func ExpiredPresenceUsers(ctx context.Context, db DB) ([]int64, error) {
	rows, err := db.Query(ctx, `DELETE FROM presence WHERE seen_at < now() - interval '`+PresenceTTL+`' RETURNING user_id`)
	if err != nil {
		return nil, notFound(err, "expire presence")
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "scan presence")
		}
		ids = append(ids, id)
	}
	return ids, notFoundOrNil(rows.Err(), "expire presence")
}
