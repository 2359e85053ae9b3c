package store

import "context"

// SetVisitorPlatformInfo stores what the platform's user lookup says about a visitor. A
// name (first, last, username) is set only where the stored one is empty or is still what
// the platform said last time (visitors.platform_names): a name from the widget's pre-chat
// form or an operator's correction is kept, and an empty answer never blanks a name. The
// phone only fills an empty one; the avatar only an empty one.
func SetVisitorPlatformInfo(ctx context.Context, db DB, id int64, first, last, username, phone string, avatar *int64) error {
	_, err := db.Exec(ctx, `UPDATE visitors SET
		first_name = CASE WHEN $2 <> '' AND (first_name = '' OR first_name = platform_names->>'first_name') THEN $2 ELSE first_name END,
		last_name = CASE WHEN $3 <> '' AND (last_name = '' OR last_name = platform_names->>'last_name') THEN $3 ELSE last_name END,
		username = CASE WHEN $4 <> '' AND (username = '' OR username = platform_names->>'username') THEN $4 ELSE username END,
		phone = CASE WHEN $5 <> '' AND phone = '' THEN $5 ELSE phone END,
		avatar_file_id = coalesce(avatar_file_id, $6),
		platform_names = platform_names || jsonb_strip_nulls(jsonb_build_object(
			'first_name', nullif($2, ''), 'last_name', nullif($3, ''), 'username', nullif($4, ''))),
		info_loaded_at = now()
		WHERE id = $1`, id, first, last, username, phone, avatar)
	return notFoundOrNil(err, "set visitor platform info")
}
