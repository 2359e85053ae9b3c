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

// RefreshPresence rewrites an instance's rows from its open streams (users[i] has
// connections[i]): rows are refreshed, rows another instance expired while this one stalled
// come back, rows without streams go. It returns the users whose row came back (or is new).
func RefreshPresence(ctx context.Context, db DB, instance string, users []int64, connections []int32) ([]int64, error) {
	if _, err := db.Exec(ctx, `DELETE FROM presence WHERE instance = $1 AND NOT (user_id = ANY($2::bigint[]))`, instance, users); err != nil {
		return nil, notFound(err, "refresh presence")
	}
	rows, err := db.Query(ctx, `INSERT INTO presence (user_id, instance, connections, seen_at)
		SELECT u, $1, c, now() FROM unnest($2::bigint[], $3::int[]) AS t(u, c)
		ON CONFLICT (user_id, instance) DO UPDATE SET connections = excluded.connections, seen_at = now()
		RETURNING user_id, (xmax = 0)`, instance, users, connections)
	if err != nil {
		return nil, notFound(err, "refresh presence")
	}
	defer rows.Close()
	var back []int64
	for rows.Next() {
		var id int64
		var inserted bool
		if err := rows.Scan(&id, &inserted); err != nil {
			return nil, notFound(err, "scan presence")
		}
		if inserted {
			back = append(back, id)
		}
	}
	return back, notFoundOrNil(rows.Err(), "refresh presence")
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
