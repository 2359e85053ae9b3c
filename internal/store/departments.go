package store

import (
	"context"
	"time"
)

// Department groups operators; a channel belongs to one.
type Department struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Sort      int       `json:"sort"`
	Members   []int64   `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// ListDepartments returns departments in their order with members.
func ListDepartments(ctx context.Context, db DB) ([]Department, error) {
	rows, err := db.Query(ctx, `SELECT d.id, d.name, d.sort, d.created_at,
		coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM department_members m WHERE m.department_id = d.id), '{}')
		FROM departments d ORDER BY d.sort, d.name, d.id`)
	if err != nil {
		return nil, notFound(err, "list departments")
	}
	defer rows.Close()
	out := []Department{}
	for rows.Next() {
		var d Department
		if err := rows.Scan(&d.ID, &d.Name, &d.Sort, &d.CreatedAt, &d.Members); err != nil {
			return nil, notFound(err, "scan department")
		}
		out = append(out, d)
	}
	return out, notFoundOrNil(rows.Err(), "list departments")
}

// CreateDepartment inserts d.
func CreateDepartment(ctx context.Context, db DB, d *Department) error {
	err := db.QueryRow(ctx, `INSERT INTO departments (name, sort) VALUES ($1, $2) RETURNING id, created_at`, d.Name, d.Sort).Scan(&d.ID, &d.CreatedAt)
	return notFoundOrNil(err, "create department")
}

// UpdateDepartment renames or reorders d.
func UpdateDepartment(ctx context.Context, db DB, d *Department) error {
	tag, err := db.Exec(ctx, `UPDATE departments SET name = $2, sort = $3 WHERE id = $1`, d.ID, d.Name, d.Sort)
	if err != nil {
		return notFound(err, "update department")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "update department")
	}
	return nil
}

// DeleteDepartment removes a department; its channels and dialogs lose it.
func DeleteDepartment(ctx context.Context, db DB, id int64) error {
	tag, err := db.Exec(ctx, `DELETE FROM departments WHERE id = $1`, id)
	if err != nil {
		return notFound(err, "delete department")
	}
	if tag.RowsAffected() == 0 {
		return notFound(ErrNotFound, "delete department")
	}
	return nil
}

// SetUserDepartments replaces a user's memberships.
func SetUserDepartments(ctx context.Context, db DB, userID int64, ids []int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM department_members WHERE user_id = $1`, userID); err != nil {
		return notFound(err, "clear memberships")
	}
	_, err := db.Exec(ctx, `INSERT INTO department_members (department_id, user_id) SELECT unnest($2::bigint[]), $1 ON CONFLICT DO NOTHING`, userID, ids)
	return notFoundOrNil(err, "set memberships")
}

// SetDepartmentMembers replaces a department's members and returns the former ones (their
// streams must learn they no longer see the department).
func SetDepartmentMembers(ctx context.Context, db DB, deptID int64, userIDs []int64) ([]int64, error) {
	rows, err := db.Query(ctx, `DELETE FROM department_members WHERE department_id = $1 RETURNING user_id`, deptID)
	if err != nil {
		return nil, notFound(err, "clear members")
	}
	var former []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, notFound(err, "scan member")
		}
		former = append(former, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, notFound(err, "clear members")
	}
	_, err = db.Exec(ctx, `INSERT INTO department_members (department_id, user_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, deptID, userIDs)
	return former, notFoundOrNil(err, "set members")
}

// OpenDialogsOf lists the open dialogs assigned to an operator.
func OpenDialogsOf(ctx context.Context, db DB, userID int64) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM dialogs WHERE assignee_id = $1 AND status = 'open' ORDER BY id`, userID)
	if err != nil {
		return nil, notFound(err, "open dialogs of")
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, notFound(err, "scan open dialogs of")
		}
		ids = append(ids, id)
	}
	return ids, notFoundOrNil(rows.Err(), "open dialogs of")
}
